"""Points 2 to 5 (origin, retention, encryption, exports): green, amber and red from constructed data."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from compliance.checklist import Scope
from compliance.points import encryption, exports, origin, retention
from compliance.thresholds import ROTATION_JOB
from core.db import purge_for_tests
from core.models import JobRun
from crossborder import gate
from passport.snapshots import retention as retention_job
from passport.snapshots import services as snapshot_services
from passport.snapshots.models import Snapshot
from tests.factories import BatteryFactory, ManufacturerCodeFactory
from tests.passport.snapshot_helpers import expired_snapshots, stored
from tests.snapshot_builders import lfp_history

pytestmark = pytest.mark.django_db


def scope(organisation):
    return Scope(organisation=organisation)


def now():
    return timezone.now()


def key_ring(*names: str) -> str:
    """KEY_ENCRYPTION_KEYS naming these keys, the first current; each key's secret follows from its name."""
    return ",".join(
        f"{name}:{base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()}" for name in names
    )


# ---------------------------------------------------------------------------------------------------
# (2) Origin
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def hnc(oem_org):
    return ManufacturerCodeFactory(code="HNC", oem=oem_org)


def batteries(hnc, verified=0, claimed=0, disputed=0):
    for origin_value, count in (("verified", verified), ("claimed", claimed), ("disputed", disputed)):
        for _ in range(count):
            BatteryFactory(manufacturer=hnc, origin=origin_value)


def test_origin_point_is_green_at_99_percent_verified_with_none_disputed(oem_org, hnc):
    batteries(hnc, verified=100)
    result = origin.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["verified_share_pct"]) == ("green", 100.0)
    assert [link.url_name for link in result.evidence] == ["passport:battery-list"]


def test_origin_point_is_amber_between_90_and_99_percent(oem_org, hnc):
    batteries(hnc, verified=19, claimed=1)
    result = origin.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["verified_share_pct"]) == ("amber", 95.0)
    assert result.evidence[0].url_name == "passport:page"  # the claimed unit, to look at


def test_origin_point_is_red_below_90_percent(oem_org, hnc):
    batteries(hnc, verified=8, claimed=2)
    assert origin.evaluate(scope(oem_org), now()).status == "red"


def test_origin_point_is_red_with_any_disputed_origin(oem_org, hnc):
    batteries(hnc, verified=500, disputed=1)
    result = origin.evaluate(scope(oem_org), now())
    assert (result.status, result.rule_code) == ("red", "ORIGIN_DISPUTED_OR_LOW")
    assert result.findings[0].startswith("Disputed origin:")


def test_origin_point_counts_the_batteries_an_organisation_holds(oem_org, recycler_org, hnc):
    BatteryFactory(manufacturer=hnc, origin="claimed", current_custodian=recycler_org)
    assert origin.evaluate(scope(recycler_org), now()).figures["batteries"] == 1
    assert origin.evaluate(scope(oem_org), now()).figures["claimed"] == 1


# ---------------------------------------------------------------------------------------------------
# (3) Retention
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def fresh_snapshots(lfp_pack, oem_device_key, oem_org, oem_admin):
    return [stored(payload, oem_org, oem_admin) for payload in lfp_history(3)]


def test_retention_point_is_green_when_everything_is_kept_eight_years(fresh_snapshots, oem_org):
    result = retention.evaluate(scope(oem_org), now())
    assert result.status == "green"
    assert result.figures["sealed"] == 3
    assert result.figures["retained_until_earliest"].year >= fresh_snapshots[0].captured_at.year + 8
    assert result.evidence[0].url == f"/passport/retention/?organisation={oem_org.pk}"


def test_retention_point_is_red_when_an_expired_payload_was_not_shredded(lfp_pack, oem_org, oem_admin):
    expired_snapshots(oem_org, oem_admin, count=2)
    result = retention.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["shredding_overdue"]) == ("red", 2)


def test_retention_point_respects_legal_holds(lfp_pack, oem_org, oem_admin, regulator):
    old = expired_snapshots(oem_org, oem_admin, count=2)
    snapshot_services.place_legal_hold(battery=old[0].battery, by=regulator, reason="Fire investigation")
    result = retention.evaluate(scope(oem_org), now())
    assert result.status == "green"
    assert (result.figures["under_legal_hold"], result.figures["legal_holds_in_force"]) == (2, 1)
    assert result.evidence[1].url_name == "passport:battery-holds"


def test_retention_point_is_amber_when_shredding_came_late(lfp_pack, oem_org, oem_admin):
    expired_snapshots(oem_org, oem_admin, count=1)  # retained until 2024, shredded only now
    retention_job.shred_expired()
    result = retention.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["shredded_late"], result.figures["shredding_overdue"]) == (
        "amber",
        1,
        0,
    )


def test_retention_point_is_amber_for_packs_in_use_without_bms_data(oem_org, hnc):
    BatteryFactory(manufacturer=hnc, status="in_custody")
    BatteryFactory(manufacturer=hnc, status="registered")  # not in use yet: no data expected
    result = retention.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["packs_without_bms_data"]) == ("amber", 1)
    assert "No BMS snapshots on record" in result.summary


# ---------------------------------------------------------------------------------------------------
# (4) Encryption
# ---------------------------------------------------------------------------------------------------
def test_encryption_point_is_green_when_every_payload_is_sealed_under_the_current_key(
    settings, lfp_pack, oem_device_key, oem_org, oem_admin
):
    settings.KEY_ENCRYPTION_KEYS = key_ring("k2026")
    stored(lfp_history(1)[0], oem_org, oem_admin)
    result = encryption.evaluate(scope(oem_org), now())
    assert result.status == "green"
    assert result.figures["payloads_by_key"] == {"k2026": 1}
    assert result.figures["payloads_by_cipher"] == {"AES-256-GCM": 1}
    assert result.figures["standard"].startswith("AES-256")


def test_encryption_point_is_amber_while_payloads_wait_for_rotation(
    settings, lfp_pack, oem_device_key, oem_org, oem_admin
):
    settings.KEY_ENCRYPTION_KEYS = key_ring("old")
    stored(lfp_history(1)[0], oem_org, oem_admin)
    settings.KEY_ENCRYPTION_KEYS = key_ring("new", "old")
    result = encryption.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["payloads_under_older_keys"]) == ("amber", 1)
    snapshot_services.rotate_keys()
    assert encryption.evaluate(scope(oem_org), now()).status == "green"


def test_encryption_point_is_red_when_a_key_left_the_ring_too_early(
    settings, lfp_pack, oem_device_key, oem_org, oem_admin
):
    settings.KEY_ENCRYPTION_KEYS = key_ring("old")
    stored(lfp_history(1)[0], oem_org, oem_admin)
    settings.KEY_ENCRYPTION_KEYS = key_ring("new")
    result = encryption.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["payloads_under_retired_keys"]) == ("red", 1)
    assert "no longer in the key ring" in result.findings[0]


def test_encryption_point_is_red_for_a_payload_stored_without_a_cipher(
    lfp_pack, oem_device_key, oem_org, oem_admin
):
    snapshot = stored(lfp_history(1)[0], oem_org, oem_admin)
    with purge_for_tests(connection), connection.cursor() as cursor:  # a row written around the envelope
        cursor.execute("UPDATE passport_snapshot SET payload_cipher = 'none' WHERE id = %s", [snapshot.pk])
    result = encryption.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["plaintext_payloads"]) == ("red", 1)


def test_encryption_point_asks_for_a_rotation_once_a_key_protected_data_for_a_year(
    lfp_pack, oem_device_key, oem_org, oem_admin
):
    stored(lfp_history(1)[0], oem_org, oem_admin)
    next_year = now() + timedelta(days=400)
    result = encryption.evaluate(scope(oem_org), next_year)
    assert (result.status, result.rule_code) == ("amber", "KEY_ROTATION_PENDING")
    JobRun.objects.create(job=ROTATION_JOB, status="succeeded", started_at=next_year - timedelta(days=3))
    result = encryption.evaluate(scope(oem_org), next_year)
    assert result.status == "green"
    assert result.figures["last_rotation"] == next_year - timedelta(days=3)


def test_rotate_keys_command_records_its_run(lfp_pack, oem_device_key, oem_org, oem_admin):
    from django.core.management import call_command

    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert JobRun.objects.filter(job=ROTATION_JOB, status="succeeded").count() == 1
    assert encryption.evaluate(scope(oem_org), now()).figures["last_rotation"] is not None


def test_encryption_point_counts_no_snapshot_of_another_organisation(
    lfp_pack, oem_device_key, oem_org, oem_admin, recycler_org
):
    stored(lfp_history(1)[0], oem_org, oem_admin)
    assert encryption.evaluate(scope(recycler_org), now()).figures["sealed_payloads"] == 0
    assert Snapshot.objects.count() == 1


# ---------------------------------------------------------------------------------------------------
# (5) Exports
# ---------------------------------------------------------------------------------------------------
def log(user, holder, outcome, **extra):
    return gate.log_export(
        user=user,
        recipient=holder,
        holder=holder,
        data_classes=["telemetry"],
        data_jurisdiction="CN",
        channel="anonymised_export",
        subject="test export",
        outcome=outcome,
        **extra,
    )


def test_exports_point_is_green_with_clean_exports(oem_org, oem_admin):
    log(oem_admin, oem_org, "not_required", scan={"bytes": 100, "hits": 0})
    log(oem_admin, oem_org, "not_required")
    result = exports.evaluate(scope(oem_org), now())
    assert result.status == "green"
    assert (result.figures["scans_passed"], result.figures["exports_not_requiring_approval"]) == (1, 1)
    assert result.evidence[0].url_name == "crossborder:export-log"


def test_exports_point_is_amber_after_a_refusal(oem_org, oem_admin):
    log(oem_admin, oem_org, "refused", code="CROSS_BORDER_NOT_APPROVED")
    result = exports.evaluate(scope(oem_org), now())
    assert (result.status, result.figures["exports_refused"]) == ("amber", 1)


def test_exports_point_is_red_after_a_blocked_scan(oem_org, oem_admin):
    log(oem_admin, oem_org, "refused")
    log(oem_admin, oem_org, "blocked", scan={"bytes": 100, "hits": 1, "kinds": {"vin": 1}})
    result = exports.evaluate(scope(oem_org), now())
    assert [link.query[0] for link in result.evidence[1:]] == [("outcome", "blocked"), ("outcome", "refused")]
    assert (result.status, result.rule_code, result.figures["scans_blocked"]) == (
        "red",
        "EXPORT_SCAN_BLOCKED",
        1,
    )


def test_exports_point_forgets_what_is_older_than_30_days(oem_org, oem_admin):
    log(oem_admin, oem_org, "blocked", at=now() - timedelta(days=45))
    assert exports.evaluate(scope(oem_org), now()).status == "green"
