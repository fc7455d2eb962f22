"""Demo cross-border data: transfer approvals and an export log, written through crossborder's services,
its gate and its release scanner (never directly).

Huaneng filed a standard contract for sending telemetry and personal data to its French after-sales
partner Seconde Vie Énergie (in force); the regulator's approval for Rhein Storage GmbH to receive
Huaneng's telemetry has expired. The export log then holds what the gate decided: Seconde Vie's report
(allowed), Rhein Storage's attempts on Huaneng's and GreenCycle's data (refused: expired, not approved),
a domestic report (no approval needed), and two anonymised exports, one clean and one blocked by the
scanner. GreenCycle holds no approval for Rhein Storage, so the buyer's history download stays refused
until one is recorded (see seed_history).

The gate commits its log rows itself and refuses to run inside a transaction, so this seeder runs
outside the per-seeder transaction (ATOMIC = False); it is idempotent through its approval references
and a marker on its log entries.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from accounts.models import User
from crossborder import gate, scanner, scrub, services
from crossborder.errors import CrossBorderRefused, ExportBlocked
from crossborder.models import ExportLogEntry, TransferApproval
from demo.seed_accounts import organisation
from demo.seed_custody import PACK_1, PACK_2
from demo.seed_licensing import GREENCYCLE
from demo.seed_passport import HUANENG

ATOMIC = False  # see the module docstring

RHEIN = "Rhein Storage GmbH"
SECONDE_VIE = "Seconde Vie Énergie SAS"
SECONDVOLT = "SecondVolt Energy Storage Shenzhen"
MARKER = "Demo: "
CONTRACT = "SC-2026-HN-0142"
EXPIRED = "CAC-SA-2024-0031"


def _approvals() -> tuple[TransferApproval, TransferApproval]:
    huaneng = organisation(HUANENG)
    in_force = TransferApproval.objects.filter(holder=huaneng, reference=CONTRACT).first()
    if in_force is None:
        in_force = services.record_approval(
            by=User.objects.get(username="oem-admin"),
            holder=huaneng,
            recipient=organisation(SECONDE_VIE),
            destination_country="FR",
            data_classes=["telemetry", "personal"],
            basis=TransferApproval.Basis.STANDARD_CONTRACT,
            reference=CONTRACT,
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
            valid_until=datetime(2028, 12, 31, 15, 59, 59, tzinfo=UTC),  # end of 31 December in Beijing
            notes="Standard contract filed with the provincial cyberspace office; after-sales diagnostics.",
        )
    expired = TransferApproval.objects.filter(holder=huaneng, reference=EXPIRED).first()
    if expired is None:
        expired = services.record_approval(
            by=User.objects.get(username="regulator-admin"),
            holder=huaneng,
            recipient=organisation(RHEIN),
            destination_country="DE",
            data_classes=["telemetry"],
            basis=TransferApproval.Basis.REGULATOR_APPROVAL,
            reference=EXPIRED,
            valid_from=datetime(2024, 3, 1, tzinfo=UTC),
            valid_until=datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC),
            notes="Security assessment for a 2024 pilot; not renewed.",
        )
    return in_force, expired


def _gate(**request: Any) -> str:
    try:
        return gate.authorise(**request).outcome
    except CrossBorderRefused as refusal:
        return f"refused ({refusal.code})"


def _release(record: Any, *, user: User, subject: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        try:
            scanner.release(
                path=path,
                user=user,
                recipient=organisation(RHEIN),
                holder=user.organisation,
                data_jurisdiction="CN",
                channel="anonymised_export",
                subject=subject,
                purpose=f"{MARKER}anonymised fleet statistics",
            )
        except ExportBlocked as blocked:
            return f"blocked ({blocked.code})"
    return "released"


def _decisions() -> list[str]:
    huaneng, greencycle = organisation(HUANENG), organisation(GREENCYCLE)
    rhein, seconde_vie = organisation(RHEIN), organisation(SECONDE_VIE)
    common = {"data_jurisdiction": "CN"}
    outcomes = [
        _gate(
            user=User.objects.get(username="secondlife-fr-admin"),
            recipient=seconde_vie,
            holder=huaneng,
            data_classes=["telemetry", "personal"],
            channel="report",
            subject=f"BMS history of {PACK_2}",
            purpose=f"{MARKER}warranty diagnostics",
            **common,
        ),
        _gate(
            user=User.objects.get(username="buyer-admin"),
            recipient=rhein,
            holder=huaneng,
            data_classes=["telemetry"],
            channel="api_read",
            subject=f"raw telemetry of {PACK_2}",
            purpose=f"{MARKER}pilot follow-up",
            **common,
        ),
        _gate(
            user=User.objects.get(username="buyer-admin"),
            recipient=rhein,
            holder=greencycle,
            data_classes=["telemetry", "personal"],
            channel="history",
            subject=f"BMS history of {PACK_1}",
            purpose=f"{MARKER}pre-purchase due diligence",
            **common,
        ),
        _gate(
            user=User.objects.get(username="secondlife-admin"),
            recipient=organisation(SECONDVOLT),
            holder=huaneng,
            data_classes=["telemetry"],
            channel="report",
            subject=f"BMS history of {PACK_2}",
            purpose=f"{MARKER}repurposing assessment",
            **common,
        ),
    ]
    greencycle_admin = User.objects.get(username="recycler-admin")
    record = {
        "battery_code": PACK_1,
        "captured_at": "2026-05-04T08:00:00Z",
        "soh_pct": 71.2,
        "cycle_count": 2310,
        "vehicle": {"vin": "LSVAG2186E2100001", "plate": "粤B·D12345"},
        "notes": "Taxi fleet of Guangzhou, owner phone 13912345678",
    }
    outcomes.append(
        _release(scrub.anonymise_record(record), user=greencycle_admin, subject="fleet statistics")
    )
    unscrubbed = {**record, "vehicle": {}, "remarks": None, "comment": record["notes"]}
    outcomes.append(_release(unscrubbed, user=greencycle_admin, subject="fleet statistics (unscrubbed)"))
    return outcomes


def seed(say: Callable[[str], None]) -> None:
    in_force, expired = _approvals()
    if ExportLogEntry.objects.filter(purpose__startswith=MARKER).exists():
        outcomes = ["already seeded"]
    else:
        outcomes = _decisions()
    say(
        f"Cross-border: approval {in_force.reference} in force, {expired.reference} expired; export log: "
        f"{', '.join(outcomes)}. See /cross-border/approvals/ and /cross-border/export-log/"
    )
