"""History requests: ask, decide, deliver; the German buyer's story through the cross-border gate."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Membership, Notification, Organisation
from core.errors import AppendOnlyViolation, Conflict, InvalidInput, NotFound, NotPermitted
from crossborder import scanner, scrub
from crossborder.errors import CrossBorderRefused, ExportBlocked
from crossborder.models import ExportLogEntry
from custody.errors import CustodyError, NotCustodian
from custody.history import services
from custody.history.document import verify_history
from custody.history.models import HistoryDelivery, HistoryRequest, HistoryRequestEvent
from custody.transparency.keys import log_signer
from passport.snapshots.ingest import ingest_documents
from passport.snapshots.models import Snapshot
from tests.custody.history_setup import PLANTED, pack_with_history, record_transfer_approval
from tests.factories import OrganisationFactory, member_of
from tests.snapshot_builders import lfp_payload, sign_envelope

pytestmark = pytest.mark.django_db

PURPOSE = "Due diligence before buying the pack for stationary storage"


@pytest.fixture
def pack(oem_org, oem_admin, recycler_org, regulator, lab_admin):
    """The LFP pack, held by the recycler in China, with three snapshots and a certification."""
    return pack_with_history(
        oem_org=oem_org, oem_admin=oem_admin, custodian=recycler_org, regulator=regulator, lab_admin=lab_admin
    )


@pytest.fixture
def domestic_buyer(db):
    organisation = OrganisationFactory(name="Hefei Storage Co", kind=Organisation.Kind.BUYER, country="CN")
    return member_of(organisation, Membership.Role.OPERATOR, username="cn-buyer")


def _approved(pack, buyer, custodian_admin, reason="Sale negotiation under NDA 2026-14"):
    request = services.request_history(by=buyer, battery_code=pack.code, purpose=PURPOSE)
    return services.approve_history_request(by=custodian_admin, request=request, reason=reason)


def _keys(value):
    """Every key of a nested document."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


# ---------------------------------------------------------------------------------------------------
# Asking
# ---------------------------------------------------------------------------------------------------
def test_request_history_records_the_request_and_tells_the_custodians_administrators(
    pack, buyer_user, recycler_admin, recycler_operator
):
    request = services.request_history(by=buyer_user, battery_code=pack.code.lower(), purpose=f"  {PURPOSE} ")
    assert request.status == HistoryRequest.Status.REQUESTED
    assert request.custodian == pack.current_custodian
    assert request.purpose == PURPOSE
    assert [event.kind for event in request.events.all()] == ["requested"]
    notified = Notification.objects.filter(dedup_key=f"custody-history-{request.pk}-requested")
    assert [notification.recipient for notification in notified] == [recycler_admin]
    assert pack.code in notified.get().subject


def test_request_history_of_an_unknown_battery_is_not_found(buyer_user):
    with pytest.raises(NotFound) as refused:
        services.request_history(by=buyer_user, battery_code="A1BPB96LFP0009R3C0000999", purpose=PURPOSE)
    assert refused.value.code == "BATTERY_NOT_FOUND"


def test_request_history_needs_a_purpose(pack, buyer_user):
    with pytest.raises(InvalidInput) as refused:
        services.request_history(by=buyer_user, battery_code=pack.code, purpose="because")
    assert (refused.value.code, refused.value.field) == ("PURPOSE_REQUIRED", "purpose")


def test_request_history_refuses_a_second_open_request_but_not_one_after_a_rejection(
    pack, buyer_user, recycler_admin
):
    first = services.request_history(by=buyer_user, battery_code=pack.code, purpose=PURPOSE)
    with pytest.raises(Conflict) as refused:
        services.request_history(by=buyer_user, battery_code=pack.code, purpose=PURPOSE)
    assert refused.value.code == "HISTORY_REQUEST_PENDING"
    services.reject_history_request(by=recycler_admin, request=first, reason="Not for sale")
    again = services.request_history(by=buyer_user, battery_code=pack.code, purpose=PURPOSE)
    assert again.pk != first.pk


def test_the_database_allows_one_open_request_per_battery_and_requester(pack, buyer_user):
    first = services.request_history(by=buyer_user, battery_code=pack.code, purpose=PURPOSE)
    with pytest.raises(IntegrityError), transaction.atomic():
        HistoryRequest.objects.create(
            battery=pack,
            requester=first.requester,
            requested_by=buyer_user,
            custodian=first.custodian,
            purpose=PURPOSE,
        )


def test_request_history_refuses_the_custodian_and_viewers(pack, recycler_admin, buyer_org):
    with pytest.raises(CustodyError) as own:
        services.request_history(by=recycler_admin, battery_code=pack.code, purpose=PURPOSE)
    assert own.value.code == "HISTORY_REQUEST_TO_SELF"
    viewer = member_of(buyer_org, Membership.Role.VIEWER, username="buyer-viewer")
    with pytest.raises(NotPermitted):
        services.request_history(by=viewer, battery_code=pack.code, purpose=PURPOSE)


# ---------------------------------------------------------------------------------------------------
# Deciding
# ---------------------------------------------------------------------------------------------------
def test_only_an_administrator_of_the_current_custodian_decides(
    pack, buyer_user, recycler_operator, other_recycler_admin, oem_admin, recycler_admin
):
    request = services.request_history(by=buyer_user, battery_code=pack.code, purpose=PURPOSE)
    with pytest.raises(NotFound):  # another organisation does not even see it
        services.approve_history_request(by=other_recycler_admin, request=request, reason="ok")
    with pytest.raises(NotFound):  # the OEM is no party to it either
        services.approve_history_request(by=oem_admin, request=request, reason="ok")
    with pytest.raises(NotCustodian):
        services.approve_history_request(by=buyer_user, request=request, reason="ok")
    with pytest.raises(NotPermitted) as operator:
        services.approve_history_request(by=recycler_operator, request=request, reason="ok")
    assert operator.value.code == "NOT_PERMITTED"
    with pytest.raises(InvalidInput) as reasonless:
        services.reject_history_request(by=recycler_admin, request=request, reason="  ")
    assert reasonless.value.code == "REASON_REQUIRED"
    assert HistoryRequest.objects.get(pk=request.pk).status == HistoryRequest.Status.REQUESTED


def test_a_decision_is_final_and_tells_the_requester(pack, buyer_user, recycler_admin):
    request = _approved(pack, buyer_user, recycler_admin)
    assert request.status == HistoryRequest.Status.APPROVED
    assert request.decided_by == recycler_admin
    with pytest.raises(Conflict) as again:
        services.reject_history_request(by=recycler_admin, request=request, reason="Changed my mind")
    assert again.value.code == "HISTORY_REQUEST_NOT_PENDING"
    notice = Notification.objects.get(recipient=buyer_user, dedup_key=f"custody-history-{request.pk}-decided")
    assert "approved" in notice.subject
    assert notice.body == "Sale negotiation under NDA 2026-14"


def test_the_event_log_is_append_only(pack, buyer_user, recycler_admin):
    request = _approved(pack, buyer_user, recycler_admin)
    events = list(request.events.order_by("id"))
    assert [event.kind for event in events] == ["requested", "approved"]
    events[1].reason = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        events[1].save()
    with pytest.raises(AppendOnlyViolation):
        HistoryRequestEvent.objects.filter(request=request).delete()
    for sql in (  # the database refuses too
        "UPDATE custody_historyrequestevent SET reason = 'rewritten'",
        "DELETE FROM custody_historyrequestevent",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)


# ---------------------------------------------------------------------------------------------------
# Delivering: the German buyer's story
# ---------------------------------------------------------------------------------------------------
def test_a_buyer_in_germany_is_refused_until_an_approval_is_recorded_then_gets_a_scrubbed_history(
    pack, buyer_user, recycler_admin, regulator
):
    request = _approved(pack, buyer_user, recycler_admin, reason="Owner consent by phone 13912345678 on file")

    with pytest.raises(CrossBorderRefused) as refused:
        services.deliver_history(by=buyer_user, request=request)
    assert refused.value.code == "CROSS_BORDER_NOT_APPROVED"
    assert refused.value.status_code == 403
    request.refresh_from_db()
    assert request.status == HistoryRequest.Status.APPROVED  # retry later
    assert request.refusal_code == "CROSS_BORDER_NOT_APPROVED"
    assert "No transfer approval" in request.refusal_reason
    assert request.events.filter(kind="refused", code="CROSS_BORDER_NOT_APPROVED").exists()
    assert not HistoryDelivery.objects.exists()
    logged = ExportLogEntry.objects.get(channel="history", outcome="refused")
    assert (logged.recipient, logged.holder, logged.subject) == (
        buyer_user.organisation,
        pack.current_custodian,
        pack.code,
    )

    approval = record_transfer_approval(regulator, pack, buyer_user.organisation)
    delivered = services.deliver_history(by=buyer_user, request=request)

    text = delivered.signed.content.decode("utf-8")
    for identifier in PLANTED:
        assert identifier not in text
    assert "13912345678" not in text
    assert scanner.scan_text(text) == []
    document = json.loads(text)
    assert not {"vehicle", "owner", "vin", "plate", "location", "text"} & _keys(document["payload"])
    verify_history(document, log_signer().verifier)  # raises if changed or signed by another key
    payload = document["payload"]
    assert payload["battery"]["code"] == pack.code  # the buyer's own battery keeps its code
    assert payload["data_jurisdiction"] == "CN"
    assert payload["request"]["approval_reason"] == "Owner consent by phone [removed] on file"
    assert [len(payload["snapshots"]), len(payload["certifications"])] == [3, 1]
    snapshot = payload["snapshots"][0]
    stored = Snapshot.objects.filter(battery=pack).order_by("captured_at").first()
    assert snapshot["payload_sha256"] == stored.payload_hash
    assert snapshot["signature"]["value"] == stored.signature_value
    assert snapshot["signature_status"] == "verified"
    assert snapshot["captured_at"] == stored.captured_at.date().isoformat()  # coarsened to the day
    assert snapshot["soh_pct"] == stored.soh_pct
    assert payload["faults"]
    assert all(set(fault) >= {"code", "at", "severity"} for fault in payload["faults"])
    assert all("text" not in fault for fault in payload["faults"])
    assert payload["thermal_events"]
    assert payload["summary"]["certification_count"] == 1
    assert payload["custody"]["steps"] is not None

    request.refresh_from_db()
    assert request.status == HistoryRequest.Status.DELIVERED
    assert request.refusal_code == ""
    delivery = HistoryDelivery.objects.get()
    assert delivery.cross_border is True
    assert delivery.payload_sha256 == delivered.signed.payload_sha256
    assert delivery.clearance["approval"]["reference"] == approval.reference
    assert [event.kind for event in request.events.order_by("id")] == [
        "requested",
        "approved",
        "refused",
        "delivered",
    ]
    gate_entry = ExportLogEntry.objects.get(pk=delivery.clearance["gate"]["log_entry"])
    scan_entry = ExportLogEntry.objects.get(pk=delivery.clearance["scan"]["log_entry"])
    assert (gate_entry.outcome, gate_entry.approval) == ("allowed", approval)
    assert (scan_entry.outcome, scan_entry.scanned, scan_entry.scan["hits"]) == ("allowed", True, 0)


def test_a_document_that_still_holds_an_identifier_is_blocked_and_nothing_is_delivered(
    pack, domestic_buyer, recycler_admin, monkeypatch
):
    request = _approved(pack, domestic_buyer, recycler_admin, reason="Owner consent by phone 13912345678")
    monkeypatch.setattr(scrub, "anonymise_record", lambda record, **options: record)  # a scrubber gone wrong
    with pytest.raises(ExportBlocked) as blocked:
        services.deliver_history(by=domestic_buyer, request=request)
    assert (blocked.value.code, blocked.value.status_code) == ("EXPORT_BLOCKED_IDENTIFIER", 422)
    request.refresh_from_db()
    assert (request.status, request.refusal_code) == ("approved", "EXPORT_BLOCKED_IDENTIFIER")
    assert not HistoryDelivery.objects.exists()
    assert ExportLogEntry.objects.get(channel="history", outcome="blocked").scan["kinds"] == {"cn_mobile": 1}


def test_a_domestic_buyer_needs_no_approval(pack, domestic_buyer, recycler_admin):
    request = _approved(pack, domestic_buyer, recycler_admin)
    delivered = services.deliver_history(by=domestic_buyer, request=request)
    assert delivered.delivery.cross_border is False
    assert delivered.delivery.clearance["gate"]["outcome"] == "not_required"
    assert delivered.delivery.clearance["approval"] is None
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM custody_historydelivery")


def test_the_history_covers_what_was_on_record_at_the_approval(
    pack, domestic_buyer, recycler_admin, oem_admin
):
    request = _approved(pack, domestic_buyer, recycler_admin)
    later = lfp_payload(
        battery_code=pack.code, captured_at=timezone.now() - timedelta(minutes=1), sequence=99
    )
    assert ingest_documents([sign_envelope(later)], organisation=oem_admin.organisation, user=oem_admin)[
        0
    ].stored
    delivered = services.deliver_history(by=domestic_buyer, request=request)
    assert len(json.loads(delivered.signed.content)["payload"]["snapshots"]) == 3


def test_only_the_requester_downloads_and_only_once_approved(
    pack, domestic_buyer, recycler_admin, other_recycler_admin
):
    request = services.request_history(by=domestic_buyer, battery_code=pack.code, purpose=PURPOSE)
    with pytest.raises(Conflict) as undecided:
        services.deliver_history(by=domestic_buyer, request=request)
    assert undecided.value.code == "HISTORY_REQUEST_NOT_DECIDED"
    services.reject_history_request(by=recycler_admin, request=request, reason="Not for sale")
    with pytest.raises(Conflict) as rejected:
        services.deliver_history(by=domestic_buyer, request=request)
    assert rejected.value.code == "HISTORY_REQUEST_REJECTED"
    approved = _approved(pack, domestic_buyer, recycler_admin)
    with pytest.raises(NotPermitted) as custodian:
        services.deliver_history(by=recycler_admin, request=approved)
    assert custodian.value.code == "HISTORY_NOT_YOURS"
    with pytest.raises(NotFound):
        services.deliver_history(by=other_recycler_admin, request=approved)
    assert not HistoryDelivery.objects.exists()
