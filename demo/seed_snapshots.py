"""Demo BMS histories, signed by demo device keys and stored through the real ingest service.

Huaneng's telematics gateway reports clean weekly histories for two of its packs; GreenCycle's
grading tester (with access granted by Huaneng) reports on two more whose data trips the plausibility
rules (SOH rising without a recalibration; cycle count falling and identical cell voltages); an old
Huaneng gateway key was revoked after a tamper alarm, so what it signed after that is refused. The
regulator designates the demo evaluation institution, which countersigns a snapshot of one pack.

The demo private keys are derived from fixed public seeds so that a second run signs the same bytes
(its snapshots are then refused as replays and nothing changes). They are demo keys only.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from django.utils import timezone

from accounts.models import User
from core import signing
from core.errors import DomainError
from demo.seed_accounts import organisation
from demo.seed_passport import HUANENG, code
from passport import services as passport_services
from passport.models import AccessGrant, Battery, DeviceKey
from passport.snapshots import services
from passport.snapshots.ingest import ingest_documents
from passport.snapshots.models import LabDesignation, Snapshot
from tests.snapshot_builders import lfp_history, lfp_payload, sign_envelope

RECYCLER = "GreenCycle Recycling Jiangxi"
LAB = "National Battery Evaluation Institute (demo)"
START = datetime(2025, 5, 5, 8, 0, tzinfo=UTC)  # packs 100 and 200 were made in April 2025
LATER_START = datetime(2026, 1, 19, 8, 0, tzinfo=UTC)  # packs 300 and 400 in January 2026
KEYS_VALID_FROM = datetime(2025, 1, 1, tzinfo=UTC)
PACKS = {
    number: code("HNC", "P", "B", "S4F" if number <= 200 else "T1A", number, "GZ25L07")
    for number in (100, 200, 300, 400)
}


def demo_key(name: str) -> ed25519.Ed25519PrivateKey:
    """A deterministic demo Ed25519 key (public seed: never use these outside the demo)."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"voltrace-demo/{name}".encode()).digest()
    )


def _register(
    private: Any, *, org_name: str, username: str, purpose: str, label: str, serial: str
) -> DeviceKey:
    existing = DeviceKey.objects.filter(key_id=signing.key_id(private)).first()
    if existing is not None:
        return existing
    return passport_services.register_device_key(
        organisation=organisation(org_name),
        by=User.objects.get(username=username),
        public_key=signing.public_key_pem(private),
        purpose=purpose,
        label=label,
        device_serial=serial,
        valid_from=KEYS_VALID_FROM,
    )


def _grant(battery: Battery, grantee_name: str, purpose: str) -> None:
    grantee = organisation(grantee_name)
    if not AccessGrant.objects.live().filter(battery=battery, grantee=grantee).exists():
        passport_services.grant_access(
            battery=battery,
            grantee=grantee,
            by=User.objects.get(username="oem-admin"),
            valid_until=timezone.now() + timedelta(days=365),
            purpose=purpose,
        )


def _ingest(envelopes: list[dict[str, Any]], org_name: str, username: str) -> tuple[int, list[str]]:
    results = ingest_documents(
        envelopes, organisation=organisation(org_name), user=User.objects.get(username=username)
    )
    refused = [result.error.code for result in results if result.error is not None]
    return sum(1 for result in results if result.stored), refused


def _history(
    pack: str, device: str, count: int, start: datetime = START, **kwargs: Any
) -> list[dict[str, Any]]:
    return lfp_history(count, start=start, battery_code=pack, device_id=device, **kwargs)


def seed(say: Callable[[str], None]) -> None:
    gateway = demo_key("huaneng-gateway-1")
    old_gateway = demo_key("huaneng-gateway-0")
    tester = demo_key("greencycle-tester-7")
    lab_key = demo_key("nbei-certifier-1")
    _register(gateway, org_name=HUANENG, username="oem-admin", purpose="bms_device",
              label="Telematics gateway (demo)", serial="HN-GW-0001")  # fmt: skip
    old = _register(old_gateway, org_name=HUANENG, username="oem-admin", purpose="bms_device",
                    label="Old gateway, tamper alarm (demo)", serial="HN-GW-0000")  # fmt: skip
    _register(tester, org_name=RECYCLER, username="recycler-admin", purpose="bms_device",
              label="Grading tester 7 (demo)", serial="GC-TESTER-7")  # fmt: skip
    _register(lab_key, org_name=LAB, username="lab-admin", purpose="certification",
              label="Certification key (demo)", serial="")  # fmt: skip

    batteries = {number: Battery.objects.get(code=pack) for number, pack in PACKS.items()}
    for number in (300, 400):
        _grant(batteries[number], RECYCLER, "Grading before second-life sale")
    _grant(batteries[200], LAB, "Capacity test and certification")

    stored = 0
    refused: list[str] = []
    # Clean weekly histories from Huaneng's gateway.
    for number, count, soh_start in ((100, 24, 96.0), (200, 20, 95.2)):
        history = _history(
            PACKS[number], f"HN-GW-{number}", count, soh_start=soh_start, first_cycle_count=number
        )
        envelopes = [sign_envelope(payload, gateway) for payload in history]
        added, refusals = _ingest(envelopes, HUANENG, "oem-admin")
        stored, refused = stored + added, refused + refusals

    # GreenCycle's tester: pack 300 with SOH climbing 8 points without a recalibration (a doctored grade).
    fabricated = _history(PACKS[300], "GC-TESTER-7", 10, start=LATER_START, soh_start=84.0)
    for index, payload in enumerate(fabricated[6:], start=1):
        payload["soh_pct"] = round(84.0 + 2.5 * index, 1)
    # Pack 400: the odometer of cycles rolled back, and a snapshot whose 96 cells all read the same.
    rolled_back = _history(PACKS[400], "GC-TESTER-7B", 8, start=LATER_START, first_cycle_count=1500)
    rolled_back[5]["cycle_count"] = 300
    cells = [3.3] * 96
    rolled_back.append(
        lfp_payload(
            battery_code=PACKS[400],
            device_id="GC-TESTER-7B",
            sequence=9,
            captured_at=LATER_START + timedelta(weeks=8),
            cycle_count=1600,
            soh_pct=88.0,
            cell_voltages_v=cells,
            cell_voltage_min_v=3.3,
            cell_voltage_max_v=3.3,
            pack_voltage_v=316.4,
        )
    )
    added, refusals = _ingest([sign_envelope(payload, tester) for payload in fabricated + rolled_back],
                              RECYCLER, "recycler-operator")  # fmt: skip
    stored, refused = stored + added, refused + refusals

    # The old gateway: two snapshots from before its revocation, one after (refused: KEY_REVOKED).
    revoked_at = START + timedelta(weeks=2)
    if not old.revocations.exists():
        passport_services.revoke_device_key(
            key=old, by=User.objects.get(username="oem-admin"), reason="Tamper alarm; gateway replaced",
            effective_at=revoked_at,
        )  # fmt: skip
    old_payloads = [
        lfp_payload(
            battery_code=PACKS[100],
            device_id="HN-GW-0000",
            sequence=number,
            seed=50 + number,
            captured_at=START + timedelta(days=3 + 7 * number),
            soh_pct=96.0,
            cycle_count=104 + 9 * number,
            soc_pct=55.0 + number,
        )
        for number in (0, 1, 3)
    ]
    added, refusals = _ingest(
        [sign_envelope(payload, old_gateway) for payload in old_payloads], HUANENG, "oem-admin"
    )
    stored, refused = stored + added, refused + refusals

    # The regulator designates the evaluation institution; the lab countersigns pack 200's latest snapshot.
    lab = organisation(LAB)
    if not LabDesignation.objects.filter(lab=lab).exists():
        services.designate_lab(
            lab=lab, by=User.objects.get(username="regulator-admin"), valid_from=KEYS_VALID_FROM,
            reference="MIIT-EVAL-2025-017", scope="Grading of retired traction batteries (demo)",
        )  # fmt: skip
    latest = Snapshot.objects.filter(battery=batteries[200]).order_by("-captured_at").first()
    if latest is not None:
        statement = {
            "battery_code": PACKS[200],
            "snapshot_payload_hash": latest.payload_hash,
            "result": f"pass: SOH {latest.soh_pct}% confirmed by capacity test",
            "tested_at": (latest.captured_at + timedelta(days=2)).isoformat().replace("+00:00", "Z"),
        }
        with contextlib.suppress(DomainError):  # already recorded on an earlier run
            services.record_certification(
                document=services.sign_certification(statement, lab_key),
                by=User.objects.get(username="lab-admin"),
            )
    say(
        f"Snapshots: {Snapshot.objects.count()} stored ({stored} now; refused now: "
        f"{', '.join(sorted(set(refused))) or 'none'}); flagged packs {PACKS[300]} and {PACKS[400]}"
    )
