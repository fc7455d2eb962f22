"""Per-core rates of the cryptographic core on a realistic ~4 KB BMS snapshot.

Run from the repository root: `.venv/bin/python bench/crypto.py`. Needs no settings and no database.
Compare with ../shared/PERFORMANCE.md (rfc8785 1,760/s, Ed25519 verify 9,300/s and 16,600/s with PyNaCl,
ECDSA P-256 verify 15,000/s, AES-256-GCM encrypt+decrypt 342,000/s per core on the reference machine).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rfc8785

from core import canonical, envelope, signing


def snapshot_payload(seed: int = 7) -> dict[str, Any]:
    """A BMS snapshot payload shaped as DESIGN.md describes, with per-cell data for a 96-cell pack (~4 KB)."""
    rng = random.Random(seed)
    cells = [round(rng.uniform(3.281, 3.297), 3) for _ in range(96)]
    temperatures = [round(rng.uniform(21.0, 24.5), 1) for _ in range(32)]
    resistances = [round(rng.uniform(0.38, 0.46), 3) for _ in range(96)]
    return {
        "battery_code": "03HPB0DA0001KDA5B0000123",
        "captured_at": "2026-05-01T08:00:00Z",
        "device_id": "bms-7f3a-00912",
        "soc_pct": 61.5,
        "soh_pct": 87.2,
        "cycle_count": 812,
        "pack_voltage_v": 352.1,
        "pack_current_a": -12.4,
        "cell_voltage_min_v": min(cells),
        "cell_voltage_max_v": max(cells),
        "cell_temp_min_c": min(temperatures),
        "cell_temp_max_c": max(temperatures),
        "insulation_resistance_kohm": 5200,
        "cell_voltages_v": cells,
        "cell_temps_c": temperatures,
        "cell_resistance_mohm": resistances,
        "module_voltages_v": [round(sum(cells[i : i + 12]), 2) for i in range(0, 96, 12)],
        "recent_samples": [
            {
                "at": f"2026-05-01T07:{minute:02d}:00Z",
                "pack_voltage_v": round(352.1 + rng.uniform(-0.6, 0.6), 1),
                "pack_current_a": round(rng.uniform(-15.0, -9.0), 1),
                "soc_pct": round(61.5 + (18 - minute // 3) * 0.1, 1),
            }
            for minute in range(0, 54, 3)
        ],
        "faults": [
            {
                "code": "P0A7F",
                "at": "2026-04-28T13:02:11Z",
                "severity": 2,
                "text": "Cell imbalance above limit",
            },
            {
                "code": "P0AA6",
                "at": "2026-04-29T07:45:00Z",
                "severity": 3,
                "text": "高压绝缘电阻低 (insulation)",
            },
            {
                "code": "U0111",
                "at": "2026-04-30T18:20:30Z",
                "severity": 1,
                "text": "Lost communication, module 7",
            },
            {
                "code": "P0B24",
                "at": "2026-04-30T19:01:02Z",
                "severity": 2,
                "text": "Cell 41 voltage deviation",
            },
        ],
        "thermal_events": [
            {
                "started_at": "2026-04-12T10:00:00Z",
                "ended_at": "2026-04-12T10:04:30Z",
                "max_temp_c": 71.0,
                "kind": "overtemperature",
            },
        ],
        "vehicle": {
            "vin": "LSVAU2180N2183294",
            "plate": "沪AD12345",
            "owner": {"name": "张伟", "id_number": "310101198001010014", "phone": "+86 138 0013 8000"},
            "location": {"lat": 31.2304, "lon": 121.4737, "accuracy_m": 12.0},
        },
    }


def rate(work: Callable[[], Any], *, seconds: float = 0.4, rounds: int = 5) -> float:
    """Best calls per second over several timed rounds (one core: this process only).

    The best round, as timeit advises: slower rounds measure other processes on the machine, not this code.
    """
    calls = 1
    while True:  # size a round to about `seconds`
        started = time.perf_counter()
        for _ in range(calls):
            work()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 4:
            break
        calls *= 4
    calls = max(1, int(calls * seconds / elapsed))
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            work()
        rates.append(calls / (time.perf_counter() - started))
    return max(rates)


def main() -> None:
    payload = snapshot_payload()
    message = canonical.canonicalize(payload)
    assert canonical._canonicalize_fast(payload) == message, "the fast path must take a realistic snapshot"
    assert canonical.canonicalize_slow(payload) == message == rfc8785.dumps(payload)
    print(f"snapshot payload: {len(message)} bytes canonical, {len(payload['cell_voltages_v'])} cells")
    rows: list[tuple[str, float]] = []

    rows.append(
        ("canonicalize, fast path (C json encoder)", rate(lambda: canonical._canonicalize_fast(payload)))
    )
    rows.append(
        ("canonicalize, slow path (pure RFC 8785)", rate(lambda: canonical.canonicalize_slow(payload)))
    )
    rows.append(("rfc8785.dumps (reference package)", rate(lambda: rfc8785.dumps(payload))))
    rows.append(("canonicalize() as called", rate(lambda: canonical.canonicalize(payload))))
    rows.append(
        (
            "parse_json_strict of the canonical bytes",
            rate(lambda: canonical.parse_json_strict(message, max_bytes=65536)),
        )
    )

    ed_key = signing.generate_private_key(signing.ED25519)
    ed_public = ed_key.public_key()
    ed_signature = signing.sign(ed_key, message)
    assert signing._verify_ed25519_cryptography(ed_public, message, ed_signature)
    assert signing._verify_ed25519_nacl(ed_public, message, ed_signature)
    rows.append(
        (
            "Ed25519 verify, cryptography",
            rate(lambda: signing._verify_ed25519_cryptography(ed_public, message, ed_signature)),
        )
    )
    rows.append(
        (
            "Ed25519 verify, PyNaCl",
            rate(lambda: signing._verify_ed25519_nacl(ed_public, message, ed_signature)),
        )
    )
    rows.append(
        (
            f"verify_signature(Ed25519) as called [{signing.ed25519_backend()}]",
            rate(lambda: signing.verify_signature(ed_public, message, ed_signature, alg=signing.ED25519)),
        )
    )
    ec_key = signing.generate_private_key(signing.ECDSA_P256)
    ec_public = ec_key.public_key()
    ec_signature = signing.sign(ec_key, message)
    rows.append(
        (
            "verify_signature(ECDSA-P256)",
            rate(lambda: signing.verify_signature(ec_public, message, ec_signature, alg=signing.ECDSA_P256)),
        )
    )
    rows.append(
        (
            "Ed25519 public key load + key_id",
            rate(lambda: signing.key_id(signing.load_public_key(signing.public_key_b64(ed_public)))),
        )
    )

    ring = envelope.KeyRing.parse("bench-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    aad = b"passport.snapshot:1842"
    for cipher in envelope.CIPHERS:

        def seal_and_open(cipher: str = cipher) -> None:
            box = envelope.seal(message, aad=aad, cipher=cipher, ring=ring)
            envelope.open_box(box, aad=aad, ring=ring)

        seal_and_open()
        rows.append((f"seal + open_box, {cipher}", rate(seal_and_open)))

    width = max(len(name) for name, _ in rows)
    for name, per_second in rows:
        print(f"{name:<{width}}  {per_second:>10,.0f}/s  {1e6 / per_second:>8.1f} µs")


if __name__ == "__main__":
    main()
