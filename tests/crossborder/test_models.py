"""Approvals, revocations and the export log are append-only in the ORM and in the database
(PostgreSQL and SQLite triggers), and the database refuses rows that break their invariants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from core.errors import AppendOnlyViolation
from crossborder.models import ApprovalRevocation, ExportLogEntry, TransferApproval
from tests.crossborder.conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(recycler_org, buyer_org):
    return ExportLogEntry.objects.create(
        holder=recycler_org,
        recipient=buyer_org,
        destination_country="DE",
        data_jurisdiction="CN",
        data_classes=["telemetry"],
        channel="api_read",
        subject="x",
        outcome="not_required",
    )


def _raw_refused(sql: str, params: list) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as error:
        return "append-only" in str(error)
    return False


def test_orm_refuses_updates_and_deletes(make_approval, entry):
    approval = make_approval()
    revocation = ApprovalRevocation.objects.create(approval=approval, reason="ended")
    for row in (approval, revocation, entry):
        with pytest.raises(AppendOnlyViolation):
            row.save()
        with pytest.raises(AppendOnlyViolation):
            row.delete()
    with pytest.raises(AppendOnlyViolation):
        ExportLogEntry.objects.update(outcome="allowed")
    with pytest.raises(AppendOnlyViolation):
        TransferApproval.objects.all().delete()


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("crossborder_transferapproval", "reference", "CHANGED"),
        ("crossborder_approvalrevocation", "reason", "changed"),
        ("crossborder_exportlogentry", "outcome", "allowed"),
    ],
)
def test_database_triggers_refuse_raw_updates_and_deletes(make_approval, entry, table, column, value):
    ApprovalRevocation.objects.create(approval=make_approval(), reason="ended")
    assert _raw_refused(f'UPDATE "{table}" SET "{column}" = %s', [value])
    assert _raw_refused(f'DELETE FROM "{table}"', [])


def test_database_refuses_broken_approvals(make_approval, recycler_org):
    for fields in (
        {"valid_until": NOW - timedelta(days=400)},  # ends before it starts
        {"destination_country": "de"},
        {"basis": "handshake"},
        {"recipient": recycler_org},  # to itself
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            make_approval(**fields)
    make_approval(reference="CAC-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_approval(reference="CAC-1")


def test_database_refuses_an_allowed_export_without_its_approval(entry):
    with pytest.raises(IntegrityError), transaction.atomic():
        ExportLogEntry.objects.create(
            data_jurisdiction="CN", data_classes=[], channel="x", subject="x", outcome="allowed"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ExportLogEntry.objects.create(
            data_jurisdiction="CN", data_classes=[], channel="x", subject="x", outcome="maybe"
        )


def test_status_follows_validity_and_revocation(make_approval):
    approval = make_approval(valid_from=NOW, valid_until=NOW + timedelta(days=10))
    assert approval.status_at(NOW - timedelta(seconds=1)) == "pending"
    assert approval.status_at(NOW) == "in_force"
    assert approval.status_at(NOW + timedelta(days=10)) == "in_force"
    assert approval.status_at(NOW + timedelta(days=10, seconds=1)) == "expired"
    ApprovalRevocation.objects.create(approval=approval, reason="ended", at=NOW + timedelta(days=2))
    approval = TransferApproval.objects.get(pk=approval.pk)
    assert approval.status_at(NOW + timedelta(days=1)) == "in_force"
    assert approval.status_at(NOW + timedelta(days=2)) == "revoked"
    assert list(TransferApproval.objects.in_force(NOW + timedelta(days=1))) == [approval]
    assert not TransferApproval.objects.in_force(NOW + timedelta(days=3)).exists()
