"""A pack with a documented BMS history, held by a recycler in China: what history requests are about.

The OEM's gateway reports three weekly snapshots whose sealed payloads carry a vehicle block (VIN, plate,
owner name, ID number and phone, location, SIM, IMEI) and fault texts naming the owner's phone and the
VIN; a designated lab certifies the latest snapshot. Nothing of the vehicle block or the fault texts may
reach a history document.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Organisation, User
from crossborder import services as crossborder_services
from passport.models import AccessGrant, Battery
from passport.snapshots import services as snapshot_services
from passport.snapshots.ingest import ingest_documents
from passport.snapshots.models import Snapshot
from tests.conftest import register_test_device_key
from tests.factories import lfp_battery
from tests.snapshot_builders import device_key, lfp_history, lfp_vehicle, rfc3339, sign_envelope

VIN = lfp_vehicle()["vin"]  # LFV2A21K8R3000123
OWNER_PHONE = "13800138000"
PLANTED = (VIN, OWNER_PHONE, "310101199001011234", "张伟", "31.2304", "356938035643809", "Driver reported")
START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def planted_payloads(code: str, count: int = 3) -> list[dict[str, Any]]:
    """A clean weekly history whose fault texts name the owner's phone and the vehicle's VIN."""
    payloads = lfp_history(count, start=START, battery_code=code, faults=1, thermal_events=1)
    for payload in payloads:
        for fault in payload["faults"]:
            fault["text"] = f"Driver reported smell; owner {OWNER_PHONE}, VIN {VIN}"
        payload["vehicle"]["owner"]["phone"] = OWNER_PHONE
    return payloads


def pack_with_history(
    *,
    oem_org: Organisation,
    oem_admin: User,
    custodian: Organisation,
    regulator: User | None = None,
    lab_admin: User | None = None,
    count: int = 3,
) -> Battery:
    """The builders' LFP pack, held by `custodian`, with `count` snapshots and (given a regulator and a
    lab) a certification of the latest one."""
    battery = lfp_battery(oem_org, custodian=custodian)
    register_test_device_key(oem_org, oem_admin, 1, device_serial="BMS-A1B-0000123")
    results = ingest_documents(
        [sign_envelope(payload) for payload in planted_payloads(battery.code, count)],
        organisation=oem_org,
        user=oem_admin,
    )
    assert all(result.stored for result in results), [result.error for result in results]
    if regulator is not None and lab_admin is not None:
        lab = lab_admin.organisation
        AccessGrant.objects.create(  # the custodian lets the lab test the pack
            battery=battery, grantee=lab, granted_by=custodian, valid_until=datetime(2099, 1, 1, tzinfo=UTC)
        )
        snapshot_services.designate_lab(
            lab=lab, by=regulator, valid_from=datetime(2020, 1, 1, tzinfo=UTC), reference="MIIT-EVAL-1"
        )
        register_test_device_key(lab, lab_admin, 3, purpose="certification")
        latest = Snapshot.objects.filter(battery=battery).order_by("-captured_at").first()
        statement = {
            "battery_code": battery.code,
            "snapshot_payload_hash": latest.payload_hash,
            "result": f"pass: SOH {latest.soh_pct}% confirmed by capacity test",
            "tested_at": rfc3339(latest.captured_at + timedelta(days=2)),
        }
        snapshot_services.record_certification(
            document=snapshot_services.sign_certification(statement, device_key(3)), by=lab_admin
        )
    return battery


def record_transfer_approval(regulator: User, battery: Battery, recipient: Organisation) -> Any:
    """A regulator of the custodian's country records the approval to send telemetry to `recipient`."""
    now = timezone.now()
    return crossborder_services.record_approval(
        by=regulator,
        holder=battery.current_custodian,
        recipient=recipient,
        destination_country=recipient.country,
        data_classes=["telemetry"],
        basis="regulator_approval",
        reference="CAC-2026-0042",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=365),
    )
