"""Reads of history requests (scoped to the reader) and the history document an approval releases.

The document is built from the snapshots' clear-text metadata only: SOC/SOH and the other measurements,
the fault and thermal-event summaries, flags, signatures and payload hashes. The sealed payloads, which
hold the vehicle block and the faults' free text, are never opened here (only authorities read them,
through `passport.snapshots.services.read_raw_telemetry`). The history covers what was on record when
the custodian approved (`as_of`): snapshots received and certifications recorded by then. The custody
summary is the public one, as of the download.

A certification is described by its result, time, statement hash and the lab's signature and key; its
statement is left out because scrubbing (day-coarse times) would no longer match the signed bytes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from custody.events.models import CustodyEvent
from custody.history.models import HistoryDelivery, HistoryRequest, HistoryRequestEvent
from passport import summary
from passport.models import Battery, DeviceKey, DeviceKeyRevocation
from passport.snapshots.models import Certification, Snapshot, SnapshotFlag

SNAPSHOT_FIELDS = (
    "id",
    "captured_at",
    "received_at",
    "soc_pct",
    "soh_pct",
    "cycle_count",
    "throughput_kwh",
    "pack_voltage_v",
    "cell_voltage_min_v",
    "cell_voltage_max_v",
    "cell_temp_min_c",
    "cell_temp_max_c",
    "insulation_resistance_kohm",
    "alarms",
    "soh_recalibrated",
    "fault_count",
    "max_fault_severity",
    "faults",
    "thermal_event_count",
    "thermal_events",
    "payload_hash",
    "payload_size",
    "signature_alg",
    "signature_value",
    "device_key_id",
    "uploaded_by__name",
    "shredded_at",
)


def history_requests_for(user: Any) -> QuerySet[HistoryRequest]:
    """The requests `user` may see, newest first, with what the list and detail views show."""
    return (
        HistoryRequest.objects.visible_to(user)
        .select_related("battery", "requester", "custodian", "battery__current_custodian", "requested_by")
        .prefetch_related(
            Prefetch("events", queryset=HistoryRequestEvent.objects.select_related("organisation", "user")),
            Prefetch("deliveries", queryset=HistoryDelivery.objects.order_by("-delivered_at", "-id")),
        )
        .order_by("-created_at", "-id")
    )


def iso(moment: datetime | None) -> str | None:
    """An instant as RFC 3339 UTC to the second (`Z`), as the snapshot envelopes write it."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _signature_status(key: DeviceKey, captured_at: datetime) -> str:
    """`verified`: checked on receipt and the key was valid at capture, as it still is on record;
    `key_revoked`: a revocation recorded later reaches back over the capture time;
    `key_not_valid`: the key's validity window (as recorded now) does not cover the capture time."""
    if any(revocation.effective_at <= captured_at for revocation in key.revocations.all()):
        return "key_revoked"
    if captured_at < key.valid_from or (key.valid_until is not None and captured_at >= key.valid_until):
        return "key_not_valid"
    return "verified"


def _keys(key_ids: set[int]) -> dict[int, DeviceKey]:
    keys = DeviceKey.objects.filter(pk__in=key_ids).prefetch_related(
        Prefetch("revocations", queryset=DeviceKeyRevocation.objects.order_by("effective_at"))
    )
    return {key.pk: key for key in keys}


def _battery_section(battery: Battery) -> dict[str, Any]:
    model = battery.battery_model
    return {
        "code": battery.code,
        "oem": battery.oem.name,
        "origin": battery.origin,
        "product_type": battery.product_type,
        "production_date": battery.production_date.isoformat(),
        "status": battery.status,
        "custodian": battery.current_custodian.name,
        "custodian_country": battery.current_custodian.country,
        "model": None
        if model is None
        else {
            "name": model.name,
            "chemistry": model.chemistry,
            "rated_capacity_ah": format(model.rated_capacity_ah.normalize(), "f"),
            "rated_energy_kwh": format(model.rated_energy_kwh.normalize(), "f"),
            "nominal_voltage_v": format(model.nominal_voltage_v.normalize(), "f"),
            "cell_count": model.cell_count,
            "configuration": model.configuration,
        },
    }


def history_payload(
    *, request: HistoryRequest, data_jurisdiction: str, generated_at: datetime | None = None
) -> dict[str, Any]:
    """The certified BMS history an approved request releases, before scrubbing and signing."""
    battery = (
        Battery.objects.for_passport()
        .select_related("battery_model", "current_custodian")
        .get(pk=request.battery_id)
    )
    as_of = request.decided_at or timezone.now()
    rows = list(
        Snapshot.objects.filter(battery=battery, received_at__lte=as_of, captured_at__lte=as_of)
        .order_by("captured_at", "id")
        .values(*SNAPSHOT_FIELDS)
    )
    snapshot_ids = [row["id"] for row in rows]
    flags: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for snapshot_id, rule_id, severity in (
        SnapshotFlag.objects.filter(snapshot_id__in=snapshot_ids)
        .order_by("snapshot_id", "rule_id", "id")
        .values_list("snapshot_id", "rule_id", "severity")
    ):
        flags[snapshot_id].append({"rule": rule_id, "severity": severity})
    keys = _keys({row["device_key_id"] for row in rows})
    certifications = list(
        Certification.objects.filter(battery=battery, recorded_at__lte=as_of)
        .select_related("lab", "key", "snapshot")
        .order_by("tested_at", "id")
    )
    certified = {certification.snapshot_id for certification in certifications}

    snapshots: list[dict[str, Any]] = []
    faults: dict[tuple[str, str], dict[str, Any]] = {}
    thermal: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = keys[row["device_key_id"]]
        snapshots.append(
            {
                "captured_at": iso(row["captured_at"]),
                "received_at": iso(row["received_at"]),
                "reported_by": row["uploaded_by__name"],
                "soc_pct": row["soc_pct"],
                "soh_pct": row["soh_pct"],
                "soh_recalibrated": row["soh_recalibrated"],
                "cycle_count": row["cycle_count"],
                "throughput_kwh": row["throughput_kwh"],
                "pack_voltage_v": row["pack_voltage_v"],
                "cell_voltage_min_v": row["cell_voltage_min_v"],
                "cell_voltage_max_v": row["cell_voltage_max_v"],
                "cell_temp_min_c": row["cell_temp_min_c"],
                "cell_temp_max_c": row["cell_temp_max_c"],
                "insulation_resistance_kohm": row["insulation_resistance_kohm"],
                "alarms": row["alarms"],
                "fault_count": row["fault_count"],
                "max_fault_severity": row["max_fault_severity"],
                "thermal_event_count": row["thermal_event_count"],
                "payload_sha256": row["payload_hash"],
                "payload_size": row["payload_size"],
                "payload": "shredded" if row["shredded_at"] else "sealed",
                "signature": {
                    "alg": row["signature_alg"],
                    "key_id": key.key_id,
                    "value": row["signature_value"],
                },
                "signature_status": _signature_status(key, row["captured_at"]),
                "flags": flags.get(row["id"], []),
                "certified": row["id"] in certified,
            }
        )
        # One fault or thermal event reported by several snapshots counts once (as faults_of does).
        for fault in row["faults"]:
            faults.setdefault(
                (str(fault.get("code")), str(fault.get("at"))),
                {
                    "code": fault.get("code"),
                    "at": fault.get("at"),
                    "severity": fault.get("severity"),
                    "snapshot_sha256": row["payload_hash"],
                },
            )
        for event in row["thermal_events"]:
            thermal.setdefault(
                (str(event.get("started_at")), str(event.get("kind"))),
                {
                    "started_at": event.get("started_at"),
                    "ended_at": event.get("ended_at"),
                    "kind": event.get("kind"),
                    "max_temp_c": event.get("max_temp_c"),
                    "snapshot_sha256": row["payload_hash"],
                },
            )
    custody = summary.custody_summary(battery)
    head = (
        CustodyEvent.objects.filter(battery=battery, recorded_at__lte=as_of)
        .order_by("-seq")
        .values_list("hash", "seq")
        .first()
    )
    return {
        "request": {
            "id": request.pk,
            "requester": request.requester.name,
            "requester_country": request.requester.country,
            "purpose": request.purpose,
            "requested_at": iso(request.created_at),
            "approved_by": request.custodian.name,
            "approved_at": iso(request.decided_at),
            "approval_reason": request.decision_reason,
        },
        "as_of": iso(as_of),
        "generated_at": iso(generated_at or timezone.now()),
        "data_jurisdiction": data_jurisdiction,
        "battery": _battery_section(battery),
        "summary": {
            "snapshot_count": len(snapshots),
            "first_captured_at": snapshots[0]["captured_at"] if snapshots else None,
            "last_captured_at": snapshots[-1]["captured_at"] if snapshots else None,
            "latest_soh_pct": snapshots[-1]["soh_pct"] if snapshots else None,
            "latest_cycle_count": snapshots[-1]["cycle_count"] if snapshots else None,
            "fault_count": len(faults),
            "thermal_event_count": len(thermal),
            "certification_count": len(certifications),
            "flagged_snapshots": sum(1 for item in snapshots if item["flags"]),
        },
        "snapshots": snapshots,
        "faults": sorted(faults.values(), key=lambda fault: str(fault["at"])),
        "thermal_events": sorted(thermal.values(), key=lambda event: str(event["started_at"])),
        "certifications": [
            {
                "lab": certification.lab.name,
                "tested_at": iso(certification.tested_at),
                "result": certification.result,
                "grading_reference": certification.grading_reference or None,
                "snapshot_sha256": certification.snapshot.payload_hash if certification.snapshot else None,
                "statement_sha256": certification.statement_hash,
                "signature": {
                    "alg": certification.signature_alg,
                    "key_id": certification.key.key_id,
                    "value": certification.signature_value,
                },
                "lab_public_key_pem": certification.key.public_key_pem,
            }
            for certification in certifications
        ],
        "custody": {
            "steps": [step.as_dict() for step in custody.steps],
            "chain_head_sha256": bytes(head[0]).hex() if head else None,
            "chain_length": head[1] + 1 if head else 0,
        },
    }
