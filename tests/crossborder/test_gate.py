"""The export gate: one decision table, every decision logged, refusals committed, explained and alerted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction

from accounts.models import Notification, Organisation, User
from core.errors import InvalidInput
from crossborder import gate
from crossborder.errors import CrossBorderRefused, GateMisuse
from crossborder.models import ExportLogEntry
from tests.crossborder.conftest import NOW
from tests.factories import OrganisationFactory, member_of

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)

# (case, approvals to record, request overrides, expected outcome, expected code)
CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], str, str]] = [
    ("public data needs nothing", [], {"data_classes": ["public"]}, "not_required", ""),
    ("restricted data needs nothing", [], {"data_classes": ["restricted", "public"]}, "not_required", ""),
    ("a domestic recipient needs nothing", [], {"recipient": "domestic"}, "not_required", ""),
    ("no approval at all", [], {}, "refused", gate.NOT_APPROVED),
    ("a matching approval in force", [{}], {}, "allowed", ""),
    (
        "the approval covers more classes",
        [{"data_classes": ["personal", "restricted", "telemetry"]}],
        {"data_classes": ["telemetry"]},
        "allowed",
        "",
    ),
    (
        "a telemetry-only approval for personal data",
        [{"data_classes": ["telemetry"]}],
        {},
        "refused",
        gate.APPROVAL_MISMATCH,
    ),
    (
        "an approval for another destination",
        [{"destination_country": "FR"}],
        {},
        "refused",
        gate.APPROVAL_MISMATCH,
    ),
    (
        "an approval for data of another holder",
        [{"holder": "other_holder"}],
        {"holder": "holder"},
        "refused",
        gate.NOT_APPROVED,
    ),
    ("the named holder's own approval", [{}], {"holder": "holder"}, "allowed", ""),
    ("any holder of the jurisdiction when none is named", [{"holder": "other_holder"}], {}, "allowed", ""),
    ("an expired approval", [{"valid_until": NOW - DAY}], {}, "refused", gate.APPROVAL_EXPIRED),
    ("an approval not yet valid", [{"valid_from": NOW + DAY}], {}, "refused", gate.APPROVAL_EXPIRED),
    ("a revoked approval", [{"revoked_at": NOW - DAY}], {}, "refused", gate.APPROVAL_EXPIRED),
    ("revoked only after the moment asked about", [{"revoked_at": NOW + DAY}], {}, "allowed", ""),
    ("valid_until is inclusive", [{"valid_until": NOW}], {}, "allowed", ""),
    ("valid_from is inclusive", [{"valid_from": NOW}], {}, "allowed", ""),
    ("one lapsed and one in force", [{"valid_until": NOW - DAY}, {}], {}, "allowed", ""),
    ("an approval for another recipient only", [{"recipient": "french"}], {}, "refused", gate.NOT_APPROVED),
    (
        "an approval whose holder is in another country",
        [{"holder": "german_holder"}],
        {},
        "refused",
        gate.NOT_APPROVED,
    ),
    (
        "a lapsed approval outranks a mismatched one",
        [{"valid_until": NOW - DAY}, {"destination_country": "FR"}],
        {},
        "refused",
        gate.APPROVAL_EXPIRED,
    ),
]


@pytest.mark.parametrize(
    ("case", "approvals", "request_fields", "outcome", "code"), CASES, ids=[case[0] for case in CASES]
)
def test_authorise_decides_by_the_table(
    case,
    approvals,
    request_fields,
    outcome,
    code,
    make_approval,
    recycler_org,
    buyer_org,
    french_org,
    regulator,
):
    organisations = {
        "holder": recycler_org,
        "other_holder": OrganisationFactory(name="Other CN holder", country="CN"),
        "german_holder": OrganisationFactory(name="German holder", country="DE"),
        "french": french_org,
        "domestic": OrganisationFactory(name="Domestic buyer", kind="buyer", country="CN"),
    }

    def resolve(fields: dict[str, Any]) -> dict[str, Any]:
        return {
            key: organisations[value] if key in ("holder", "recipient") else value
            for key, value in fields.items()
        }

    for fields in approvals:
        make_approval(**resolve(fields))
    request = {
        "user": regulator,
        "recipient": buyer_org,
        "data_classes": ["telemetry", "personal"],
        "data_jurisdiction": "CN",
        "channel": "api_read",
        "subject": "A1BPB96LFP0001R3C0000123",
        "at": NOW,
    }
    request.update(resolve(request_fields))
    if outcome == "refused":
        with pytest.raises(CrossBorderRefused) as refused:
            gate.authorise(**request)
        assert refused.value.code == code
        assert refused.value.status_code == 403
        entry = refused.value.entry
    else:
        entry = gate.authorise(**request)
    assert ExportLogEntry.objects.get() == entry
    assert (entry.outcome, entry.code) == (outcome, code)
    assert (entry.approval is not None) == (outcome == "allowed")
    assert entry.data_jurisdiction == "CN"
    assert entry.destination_country == request["recipient"].country


def test_refusal_says_exactly_what_is_missing(make_approval, regulator, buyer_org, recycler_org):
    make_approval(data_classes=["telemetry"], destination_country="FR", reference="CAC-77")
    with pytest.raises(CrossBorderRefused) as refused:
        gate.authorise(
            user=regulator,
            recipient=buyer_org,
            holder=recycler_org,
            data_classes=["telemetry", "personal"],
            data_jurisdiction="CN",
            channel="report",
            subject="report 12",
            at=NOW,
        )
    message = str(refused.value.message)
    assert "CAC-77" in message
    assert "personal" in message
    assert "its destination is FR, not DE" in message


def test_expired_refusal_names_the_approval_and_its_end(make_approval, regulator, buyer_org):
    make_approval(reference="CAC-OLD", valid_until=NOW - DAY)
    with pytest.raises(CrossBorderRefused) as refused:
        gate.authorise(
            user=regulator,
            recipient=buyer_org,
            data_classes=["telemetry"],
            data_jurisdiction="CN",
            channel="history",
            subject="x",
            at=NOW,
        )
    assert "approval CAC-OLD expired on 2026-05-31" in str(refused.value.message)


def test_refusal_alerts_the_holders_admins_and_the_platform_admins_once_a_day(
    regulator, buyer_org, recycler_org, recycler_admin, recycler_operator, django_user_model
):
    root = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    request = {
        "user": regulator,
        "recipient": buyer_org,
        "holder": recycler_org,
        "data_classes": ["telemetry"],
        "data_jurisdiction": "CN",
        "channel": "api_read",
        "subject": "battery",
        "at": NOW,
    }
    for _attempt in range(2):
        with pytest.raises(CrossBorderRefused):
            gate.authorise(**request)
    assert ExportLogEntry.objects.filter(outcome="refused").count() == 2
    alerted = set(Notification.objects.values_list("recipient__username", flat=True))
    assert alerted == {recycler_admin.username, root.username}
    assert Notification.objects.filter(recipient=recycler_admin).get().level == Notification.Level.ALERT


def test_authorise_validates_its_input(regulator, buyer_org):
    base = {
        "user": regulator,
        "recipient": buyer_org,
        "data_classes": ["telemetry"],
        "data_jurisdiction": "CN",
        "channel": "api_read",
        "subject": "x",
    }
    for overrides, field in (
        ({"data_classes": ["secret"]}, "data_classes"),
        ({"data_classes": []}, "data_classes"),
        ({"data_jurisdiction": "XX"}, "data_jurisdiction"),
        ({"channel": "Not A Slug"}, "channel"),
    ):
        with pytest.raises(InvalidInput) as error:
            gate.authorise(**{**base, **overrides})
        assert error.value.field == field
    assert not ExportLogEntry.objects.exists()


def test_authorise_inside_a_transaction_is_a_programming_error(regulator, buyer_org):
    with pytest.raises(GateMisuse), transaction.atomic():
        gate.authorise(
            user=regulator,
            recipient=buyer_org,
            data_classes=["telemetry"],
            data_jurisdiction="CN",
            channel="api_read",
            subject="x",
        )
    assert not ExportLogEntry.objects.exists()


def test_log_export_records_without_deciding(regulator, buyer_org, live_approval):
    entry = gate.log_export(
        user=regulator,
        recipient=buyer_org,
        data_classes=["telemetry"],
        data_jurisdiction="CN",
        channel="report_download",
        subject="report 7",
        outcome="allowed",
        approval=live_approval,
    )
    assert (entry.outcome, entry.approval, entry.organisation) == (
        "allowed",
        live_approval,
        regulator.organisation,
    )
    with pytest.raises(InvalidInput):
        gate.log_export(
            user=regulator,
            recipient=buyer_org,
            data_classes=["telemetry"],
            data_jurisdiction="CN",
            channel="report",
            subject="x",
            outcome="allowed",
        )
    with pytest.raises(InvalidInput) as leaky:
        gate.log_export(
            user=regulator,
            recipient=buyer_org,
            data_classes=["telemetry"],
            data_jurisdiction="CN",
            channel="report",
            subject="x",
            scan={"values": ["LSV..."]},
        )
    assert leaky.value.field == "scan"


def test_decide_logs_nothing(live_approval, buyer_org):
    decision = gate.decide(recipient=buyer_org, data_classes=["personal"], data_jurisdiction="cn")
    assert decision.approval == live_approval
    assert not ExportLogEntry.objects.exists()


# ---------------------------------------------------------------------------------------------------
# The refusal is committed whatever the caller does next (SQLite and PostgreSQL)
# ---------------------------------------------------------------------------------------------------
def _committed_outcomes() -> list[str]:
    """Read the log through a second connection: it sees only committed rows."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT outcome FROM crossborder_exportlogentry ORDER BY id")
            return [row[0] for row in cursor.fetchall()]
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_refusal_is_committed_before_it_is_raised(regulator_org):
    user = member_of(regulator_org, username="regulator-tx")
    buyer = OrganisationFactory(name="Buyer abroad", kind="buyer", country="DE")

    def export_then_fail() -> None:
        gate.authorise(
            user=user,
            recipient=buyer,
            data_classes=["telemetry", "personal"],
            data_jurisdiction="CN",
            channel="report",
            subject="report 1",
        )

    with pytest.raises(CrossBorderRefused):
        export_then_fail()
    # The caller's next transaction rolls back: the refusal stays.

    @transaction.atomic
    def caller_fails() -> None:
        Organisation.objects.create(name="Rolled back", kind="buyer", country="DE")
        raise RuntimeError("the caller fails")

    with pytest.raises(RuntimeError):
        caller_fails()
    assert not Organisation.objects.filter(name="Rolled back").exists()
    assert _committed_outcomes() == ["refused"]
    assert not connection.in_atomic_block
    assert User.objects.filter(pk=user.pk).exists()
