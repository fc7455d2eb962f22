"""Recording and revoking approvals: who may, and a precise error naming the field for bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Membership
from core.errors import Conflict, InvalidInput, NotPermitted
from crossborder import services
from crossborder.models import TransferApproval
from tests.factories import OrganisationFactory, member_of

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)


def record(by, holder, recipient, **overrides):
    fields = {
        "by": by,
        "holder": holder,
        "recipient": recipient,
        "destination_country": "DE",
        "data_classes": ["telemetry", "personal"],
        "basis": TransferApproval.Basis.REGULATOR_APPROVAL,
        "reference": "CAC-SA-2026-0042",
        "valid_from": START,
        "valid_until": START + timedelta(days=3 * 365),
        "notes": "Security assessment passed.",
    }
    fields.update(overrides)
    return services.record_approval(**fields)


def test_a_regulator_records_an_approval_for_a_holder_in_its_country(regulator, recycler_org, buyer_org):
    approval = record(regulator, recycler_org, buyer_org, data_classes=["personal", "telemetry", "telemetry"])
    assert approval.data_classes == ["personal", "telemetry"]
    assert (approval.recorded_by, approval.recorded_by_organisation) == (regulator, regulator.organisation)
    assert approval.destination_country == "DE"


def test_the_holders_admin_records_for_its_own_organisation_only(
    recycler_admin, recycler_operator, recycler_org, other_recycler_org, buyer_org
):
    record(recycler_admin, recycler_org, buyer_org, basis="standard_contract", reference="SC-2026-9")
    with pytest.raises(NotPermitted) as other:
        record(recycler_admin, other_recycler_org, buyer_org)
    assert other.value.field == "holder"
    with pytest.raises(NotPermitted):
        record(recycler_operator, recycler_org, buyer_org, reference="SC-2")


def test_a_foreign_regulator_auditor_or_recipient_may_not_record(
    auditor, buyer_user, recycler_org, buyer_org, regulator_org
):
    french_regulator = member_of(OrganisationFactory(name="CNIL", kind="regulator", country="FR"))
    viewer = member_of(regulator_org, Membership.Role.VIEWER, username="regulator-viewer")
    for user in (auditor, buyer_user, french_regulator, viewer):
        with pytest.raises(NotPermitted):
            record(user, recycler_org, buyer_org)
    assert not TransferApproval.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"destination_country": "XX"}, "destination_country", "APPROVAL_COUNTRY_INVALID"),
        ({"destination_country": "Germany"}, "destination_country", "APPROVAL_COUNTRY_INVALID"),
        ({"destination_country": "cn"}, "destination_country", "APPROVAL_NOT_CROSS_BORDER"),
        ({"data_classes": []}, "data_classes", "APPROVAL_CLASSES_REQUIRED"),
        ({"data_classes": ["public"]}, "data_classes", "APPROVAL_CLASS_INVALID"),
        ({"data_classes": ["telemetry", "secrets"]}, "data_classes", "APPROVAL_CLASS_INVALID"),
        ({"basis": "handshake"}, "basis", "APPROVAL_BASIS_INVALID"),
        ({"reference": "  "}, "reference", "APPROVAL_REFERENCE_REQUIRED"),
        ({"reference": "R" * 101}, "reference", "APPROVAL_REFERENCE_TOO_LONG"),
        ({"valid_until": START}, "valid_until", "APPROVAL_PERIOD_INVALID"),
        ({"valid_from": datetime(2026, 1, 1)}, "valid_from", "APPROVAL_TIME_INVALID"),
        ({"notes": "n" * 2001}, "notes", "APPROVAL_NOTES_TOO_LONG"),
    ],
)
def test_bad_input_names_the_field(regulator, recycler_org, buyer_org, overrides, field, code):
    with pytest.raises(InvalidInput) as error:
        record(regulator, recycler_org, buyer_org, **overrides)
    assert (error.value.field, error.value.code) == (field, code)
    assert not TransferApproval.objects.exists()


def test_each_basis_asks_for_its_own_reference(regulator, recycler_org, buyer_org):
    messages = set()
    for basis in TransferApproval.Basis.values:
        with pytest.raises(InvalidInput) as error:
            record(regulator, recycler_org, buyer_org, basis=basis, reference="")
        messages.add(str(error.value.message))
    assert len(messages) == 4
    assert any("approval number" in message for message in messages)


def test_the_recipient_is_not_the_holder_and_references_are_not_repeated(regulator, recycler_org, buyer_org):
    with pytest.raises(InvalidInput) as itself:
        record(regulator, recycler_org, recycler_org)
    assert itself.value.field == "recipient"
    record(regulator, recycler_org, buyer_org)
    with pytest.raises(Conflict) as again:
        record(regulator, recycler_org, buyer_org)
    assert again.value.field == "reference"


def test_revoking_needs_the_same_right_and_a_reason_and_happens_once(
    regulator, recycler_admin, buyer_user, recycler_org, buyer_org
):
    approval = record(regulator, recycler_org, buyer_org)
    with pytest.raises(NotPermitted):
        services.revoke_approval(approval=approval, by=buyer_user, reason="We do not want it")
    with pytest.raises(InvalidInput) as empty:
        services.revoke_approval(approval=approval, by=recycler_admin, reason=" ")
    assert empty.value.field == "reason"
    revocation = services.revoke_approval(approval=approval, by=recycler_admin, reason="Contract ended")
    assert (revocation.by_organisation, approval.status) == (recycler_org, "revoked")
    with pytest.raises(Conflict):
        services.revoke_approval(approval=approval, by=regulator, reason="again")
