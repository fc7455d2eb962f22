"""Realistic signed BMS snapshots for tests: a 96-cell LFP pack (96s2p, 200 Ah, about 61 kWh).

`lfp_payload()` builds a payload that passes the schema and trips no plausibility rule; keyword
overrides replace any payload field (pass `REMOVE` to leave one out). `lfp_history()` builds a clean
weekly history; `sign_envelope()` wraps a payload in an envelope signed by a deterministic device key.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.canonical import canonicalize
from core.signing import algorithm_of, key_id, sign

LFP_CELLS_IN_SERIES = 96
LFP_CELL_WINDOW_V = (2.5, 3.65)
LFP_ENERGY_KWH = 61.4
DEFAULT_BATTERY_CODE = "A1BPB96LFP0001R3C0000123"
OTHER_BATTERY_CODE = "A1BPB96LFP0002R3C0000124"
DEFAULT_DEVICE_ID = "BMS-A1B-0000123"
DEFAULT_CAPTURED_AT = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)

REMOVE: Any = object()

# Rest voltage of an LFP cell against state of charge: steep at both ends, a flat plateau between.
_LFP_OCV = ((0, 2.90), (5, 3.20), (10, 3.22), (20, 3.26), (30, 3.28), (40, 3.29), (50, 3.30), (60, 3.31),
            (70, 3.32), (80, 3.33), (90, 3.34), (95, 3.36), (100, 3.45))  # fmt: skip


def rfc3339(moment: datetime) -> str:
    """A datetime as the RFC 3339 text a device sends (UTC, `Z`)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def device_key(seed: int = 1) -> ed25519.Ed25519PrivateKey:
    """A deterministic Ed25519 device key (different seeds, different devices)."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed % 256]) * 32)


def ecdsa_device_key(seed: int = 1) -> ec.EllipticCurvePrivateKey:
    """A deterministic ECDSA P-256 device key."""
    return ec.derive_private_key(2**128 + seed, ec.SECP256R1())


def lfp_rest_voltage(soc_pct: float) -> float:
    """The rest voltage of an LFP cell at a state of charge, interpolated from the OCV table."""
    for (soc_low, volt_low), (soc_high, volt_high) in pairwise(_LFP_OCV):
        if soc_low <= soc_pct <= soc_high:
            return volt_low + (volt_high - volt_low) * (soc_pct - soc_low) / (soc_high - soc_low)
    raise ValueError(f"SOC {soc_pct} is outside 0..100")


def lfp_cell_voltages(soc_pct: float, *, seed: int = 0, count: int = LFP_CELLS_IN_SERIES) -> list[float]:
    """Cell voltages at a state of charge with a realistic spread of a few millivolts."""
    rng = random.Random(seed)
    centre = lfp_rest_voltage(soc_pct)
    return [round(centre + rng.uniform(-0.006, 0.006), 3) for _ in range(count)]


def _faults(captured_at: datetime, count: int, rng: random.Random) -> list[dict[str, Any]]:
    catalogue = [
        ("P0AA6", 2, "Hybrid/EV battery voltage system isolation fault: insulation below warning threshold"),
        ("U0111", 1, "Lost communication with battery energy control module for 1.2 s during wake-up"),
        ("P0A7F", 3, "Hybrid/EV battery pack deterioration: capacity estimate below expected curve"),
        ("BMS-CELL-IMB", 2, "Cell imbalance above 45 mV at end of charge; passive balancing engaged"),
        ("P0AC0", 1, "Hybrid/EV battery pack current sensor A circuit range/performance"),
    ]
    faults = []
    for index in range(count):
        code, severity, text = catalogue[index % len(catalogue)]
        at = captured_at - timedelta(hours=6 * (count - index), minutes=rng.randint(0, 59))
        faults.append({"code": code, "at": rfc3339(at), "severity": severity, "text": text})
    return faults


def _thermal_events(captured_at: datetime, count: int) -> list[dict[str, Any]]:
    events = []
    for index in range(count):
        started = captured_at - timedelta(days=3 * (count - index), hours=2)
        events.append(
            {
                "started_at": rfc3339(started),
                "ended_at": rfc3339(started + timedelta(minutes=18)),
                "max_temp_c": 52.5,
                "kind": "over_temperature",
            }
        )
    return events


def lfp_vehicle() -> dict[str, Any]:
    """A vehicle block (personal data) as a taxi's BMS gateway reports it."""
    return {
        "vin": "LFV2A21K8R3000123",
        "plate": "沪A·D12345",
        "owner": {"name": "张伟", "id_number": "310101199001011234", "phone": "+86 138 0013 8000"},
        "location": {"lat": 31.2304, "lon": 121.4737},
        "sim_iccid": "89860012345678901234",
        "imei": "356938035643809",
    }


def lfp_payload(
    *,
    battery_code: str = DEFAULT_BATTERY_CODE,
    captured_at: datetime = DEFAULT_CAPTURED_AT,
    device_id: str = DEFAULT_DEVICE_ID,
    sequence: int = 1,
    soc_pct: float = 61.5,
    soh_pct: float = 87.2,
    cycle_count: int = 812,
    seed: int = 0,
    faults: int = 2,
    thermal_events: int = 1,
    vehicle: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """A schema-valid, plausible payload of the 96-cell LFP pack; overrides replace fields."""
    rng = random.Random(seed)
    cells = lfp_cell_voltages(soc_pct, seed=seed)
    temp_min = round(21.0 + rng.uniform(-0.5, 0.5), 1)
    payload: dict[str, Any] = {
        "battery_code": battery_code,
        "captured_at": rfc3339(captured_at),
        "device_id": device_id,
        "sequence": sequence,
        "soc_pct": soc_pct,
        "soh_pct": soh_pct,
        "cycle_count": cycle_count,
        "throughput_kwh": round(cycle_count * LFP_ENERGY_KWH * 0.86, 1),
        "pack_voltage_v": round(sum(cells) - 0.4, 1),  # a little busbar drop under a light load
        "cell_voltages_v": cells,
        "cell_voltage_min_v": min(cells),
        "cell_voltage_max_v": max(cells),
        "cell_temp_min_c": temp_min,
        "cell_temp_max_c": round(temp_min + 3.5, 1),
        "insulation_resistance_kohm": 5200,
        "alarms": {
            "over_temperature": False,
            "under_temperature": False,
            "cell_overvoltage": False,
            "cell_undervoltage": False,
            "insulation_fault": False,
        },
        "faults": _faults(captured_at, faults, rng),
        "thermal_events": _thermal_events(captured_at, thermal_events),
    }
    if vehicle:
        payload["vehicle"] = lfp_vehicle()
    for name, value in overrides.items():
        if value is REMOVE:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def lfp_history(
    count: int,
    *,
    start: datetime = DEFAULT_CAPTURED_AT - timedelta(weeks=100),
    interval: timedelta = timedelta(weeks=1),
    soh_start: float = 96.0,
    soh_loss_per_interval: float = 0.04,
    cycles_per_interval: int = 9,
    first_cycle_count: int = 20,
    **payload_kwargs: Any,
) -> list[dict[str, Any]]:
    """A clean history: SOH fading slowly with a little estimator noise, counters rising steadily."""
    rng = random.Random(count)
    payloads = []
    for index in range(count):
        soh = soh_start - index * soh_loss_per_interval + rng.uniform(-0.3, 0.3)
        payloads.append(
            lfp_payload(
                captured_at=start + index * interval,
                sequence=index + 1,
                soc_pct=round(rng.uniform(35.0, 90.0), 1),
                soh_pct=round(soh, 1),
                cycle_count=first_cycle_count + index * cycles_per_interval,
                seed=index,
                **payload_kwargs,
            )
        )
    return payloads


def sign_envelope(
    payload: dict[str, Any],
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | None = None,
    **signature_overrides: Any,
) -> dict[str, Any]:
    """The envelope of a payload, signed over its RFC 8785 bytes (overrides replace signature fields)."""
    key = key or device_key()
    signature = {
        "alg": algorithm_of(key),
        "key_id": key_id(key),
        "value": base64.b64encode(sign(key, canonicalize(payload))).decode("ascii"),
    }
    signature.update(signature_overrides)
    return {"format": "voltrace.bms-snapshot/1", "payload": copy.deepcopy(payload), "signature": signature}


def envelope_bytes(envelope: Any) -> bytes:
    """The JSON bytes a device would send."""
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")
