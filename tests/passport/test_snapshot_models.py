"""Snapshot rows: retention refused by the ORM and by database triggers (raw SQL too), on both databases."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.errors import AppendOnlyViolation
from passport.snapshots import services
from passport.snapshots.models import (
    LegalHold,
    LegalHoldEvent,
    RetentionViolation,
    Snapshot,
    SnapshotShred,
    TelemetryAccessLog,
)
from tests.passport.snapshot_helpers import expired_snapshots, stored
from tests.snapshot_builders import lfp_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(lfp_pack, oem_device_key, oem_org, oem_admin):
    return stored(lfp_payload(), oem_org, oem_admin)


def raw_sql(sql: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_snapshot_delete_before_retention_is_refused_by_the_orm(snapshot):
    with pytest.raises(RetentionViolation):
        snapshot.delete()
    with pytest.raises(RetentionViolation):
        Snapshot.objects.filter(pk=snapshot.pk).delete()
    assert Snapshot.objects.filter(pk=snapshot.pk).exists()


def test_snapshot_delete_before_retention_is_refused_by_the_database(snapshot):
    with pytest.raises(DatabaseError):
        raw_sql("DELETE FROM passport_snapshot WHERE id = %s", [snapshot.pk])
    assert Snapshot.objects.filter(pk=snapshot.pk).exists()


def test_snapshot_shredding_before_retention_is_refused_by_orm_and_database(snapshot):
    with pytest.raises(RetentionViolation):
        Snapshot.objects.filter(pk=snapshot.pk).update(
            payload_ciphertext=None, payload_wrapped_key=None, shredded_at=timezone.now()
        )
    with pytest.raises(DatabaseError):
        raw_sql(
            "UPDATE passport_snapshot SET payload_ciphertext = NULL, payload_wrapped_key = NULL, "
            "shredded_at = %s WHERE id = %s",
            [timezone.now(), snapshot.pk],
        )
    snapshot.refresh_from_db()
    assert snapshot.payload_ciphertext is not None


def test_snapshot_metadata_cannot_be_changed_by_orm_or_database(snapshot):
    snapshot.soh_pct = 99.0
    with pytest.raises(AppendOnlyViolation):
        snapshot.save()
    with pytest.raises(AppendOnlyViolation):
        Snapshot.objects.filter(pk=snapshot.pk).update(soh_pct=99.0)
    with pytest.raises(DatabaseError):
        raw_sql("UPDATE passport_snapshot SET soh_pct = 99.0 WHERE id = %s", [snapshot.pk])
    with pytest.raises(DatabaseError):
        raw_sql(
            "UPDATE passport_snapshot SET retention_until = %s WHERE id = %s", [timezone.now(), snapshot.pk]
        )
    snapshot.refresh_from_db()
    assert snapshot.soh_pct == 87.2


def test_snapshot_ciphertext_cannot_be_replaced_but_the_wrapped_key_may_rotate(snapshot):
    with pytest.raises(DatabaseError):
        raw_sql(
            "UPDATE passport_snapshot SET payload_ciphertext = %s WHERE id = %s", [b"forged", snapshot.pk]
        )
    raw_sql("UPDATE passport_snapshot SET payload_kek_id = 'other' WHERE id = %s", [snapshot.pk])
    snapshot.refresh_from_db()
    assert snapshot.payload_kek_id == "other"


def test_expired_snapshot_may_be_shredded_but_not_restored(oem_org, oem_admin):
    old, _other = expired_snapshots(oem_org, oem_admin)
    raw_sql(
        "UPDATE passport_snapshot SET payload_ciphertext = NULL, payload_wrapped_key = NULL, "
        "shredded_at = %s WHERE id = %s",
        [timezone.now(), old.pk],
    )
    with pytest.raises(DatabaseError):
        raw_sql("UPDATE passport_snapshot SET payload_ciphertext = %s WHERE id = %s", [b"back", old.pk])
    with pytest.raises(DatabaseError):
        raw_sql("UPDATE passport_snapshot SET shredded_at = NULL WHERE id = %s", [old.pk])


def test_legal_hold_blocks_delete_and_shred_of_an_expired_snapshot(oem_org, oem_admin, regulator):
    old, other = expired_snapshots(oem_org, oem_admin)
    services.place_legal_hold(battery=old.battery, by=regulator, reason="Fire investigation 2026-17")
    for snapshot in (old, other):  # a battery-wide hold covers every snapshot of the battery
        with pytest.raises(RetentionViolation):
            Snapshot.objects.filter(pk=snapshot.pk).delete()
        with pytest.raises(DatabaseError):
            raw_sql("DELETE FROM passport_snapshot WHERE id = %s", [snapshot.pk])
        with pytest.raises(DatabaseError):
            raw_sql(
                "UPDATE passport_snapshot SET payload_ciphertext = NULL, payload_wrapped_key = NULL, "
                "shredded_at = %s WHERE id = %s",
                [timezone.now(), snapshot.pk],
            )
    assert Snapshot.objects.filter(pk__in=[old.pk, other.pk], shredded_at__isnull=True).count() == 2


def test_expired_unheld_snapshot_may_be_deleted(oem_org, oem_admin):
    old, _other = expired_snapshots(oem_org, oem_admin)
    raw_sql("DELETE FROM passport_snapshotflag WHERE snapshot_id = %s", [old.pk])
    raw_sql("DELETE FROM passport_snapshot WHERE id = %s", [old.pk])
    assert not Snapshot.objects.filter(pk=old.pk).exists()


def test_snapshot_table_refuses_truncate_on_postgres(postgres, snapshot):
    with pytest.raises(DatabaseError):
        raw_sql("TRUNCATE passport_snapshot CASCADE")


def test_access_log_shred_log_and_hold_history_are_append_only(snapshot, oem_org, oem_admin, regulator):
    hold = services.place_legal_hold(battery=snapshot.battery, by=regulator, reason="Audit of 2026")
    with pytest.raises(services.DomainError):
        services.read_raw_telemetry(user=oem_admin, snapshot=snapshot, purpose="I would like to see it")
    for table in ("passport_telemetryaccesslog", "passport_legalholdevent"):
        with pytest.raises(DatabaseError):
            raw_sql(f"DELETE FROM {table}")
        with pytest.raises(DatabaseError):
            raw_sql(f"UPDATE {table} SET id = id + 1000")
    with pytest.raises(DatabaseError):
        raw_sql("UPDATE passport_legalhold SET reason = 'changed' WHERE id = %s", [hold.pk])
    with pytest.raises(DatabaseError):
        raw_sql("DELETE FROM passport_legalhold WHERE id = %s", [hold.pk])
    with pytest.raises(AppendOnlyViolation):
        LegalHold.objects.filter(pk=hold.pk).delete()
    with pytest.raises(AppendOnlyViolation):
        TelemetryAccessLog.objects.all().delete()
    assert LegalHoldEvent.objects.filter(hold=hold).count() == 1
    assert SnapshotShred.objects.count() == 0


def test_retention_setting_below_eight_years_fails_the_system_check(settings):
    settings.SNAPSHOT_RETENTION_YEARS = 7
    errors = [error for error in run_checks() if error.id == "passport.E101"]
    assert errors
    assert "at least 8 years" in errors[0].msg
    settings.SNAPSHOT_RETENTION_YEARS = 10
    assert not [error for error in run_checks() if error.id == "passport.E101"]


def test_retention_until_is_captured_at_plus_the_setting_never_below_eight_years(
    lfp_pack, oem_device_key, oem_org, oem_admin, settings
):
    first = stored(lfp_payload(sequence=1), oem_org, oem_admin)
    assert first.retention_until == first.captured_at.replace(year=first.captured_at.year + 8)
    settings.SNAPSHOT_RETENTION_YEARS = 10
    from datetime import timedelta

    second = stored(
        lfp_payload(sequence=2, captured_at=first.captured_at + timedelta(days=1)), oem_org, oem_admin
    )
    assert second.retention_until.year == second.captured_at.year + 10
