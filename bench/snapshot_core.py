"""Pure snapshot core on one core: envelope schema validation and plausibility evaluation.

Prints envelopes/s for a 4 KB signed envelope of the 96-cell LFP pack (validation of the parsed
document alone, and strict parsing + validation from bytes, beside the parser on its own), and
histories/s for `evaluate_history` over 100-snapshot histories (clean, and with rules tripping).
Medians of several runs. No database: run it anywhere with `.venv/bin/python bench/snapshot_core.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

# Only gettext is needed (and only on refusals and flags): no project settings, no database.
settings.configure(USE_I18N=True, LANGUAGE_CODE="en", INSTALLED_APPS=[], LOCALE_PATHS=[ROOT / "locale"])
django.setup()

from core.canonical import canonicalize, parse_json_strict, sha256_hex  # noqa: E402
from passport.snapshots.plausibility import BatteryContext, SnapshotFacts, evaluate_history  # noqa: E402
from passport.snapshots.schema import (  # noqa: E402
    MAX_ENVELOPE_BYTES,
    MAX_ENVELOPE_DEPTH,
    parse_envelope,
    validate_envelope,
)
from tests.snapshot_builders import (  # noqa: E402
    LFP_CELL_WINDOW_V,
    LFP_CELLS_IN_SERIES,
    envelope_bytes,
    lfp_history,
    lfp_payload,
    sign_envelope,
)

RUNS = 5


def per_second(work: Callable[[], object], *, count: int) -> float:
    """Median rate over RUNS runs of `count` calls."""
    rates = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(count):
            work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def facts_of(payloads: list[dict]) -> list[SnapshotFacts]:
    facts = []
    for index, payload in enumerate(payloads):
        envelope = validate_envelope(sign_envelope(payload))
        facts.append(
            SnapshotFacts.from_envelope(
                envelope,
                id=index,
                received_seq=index,
                payload_hash=sha256_hex(canonicalize(envelope.payload)),
            )
        )
    return facts


def main() -> None:
    raw = envelope_bytes(sign_envelope(lfp_payload(faults=14, thermal_events=3)))
    document = parse_json_strict(raw, max_bytes=MAX_ENVELOPE_BYTES, max_depth=MAX_ENVELOPE_DEPTH)
    payload_size = len(json.dumps(document["payload"], ensure_ascii=False).encode())
    print(
        f"envelope: {len(raw)} bytes ({payload_size} bytes of payload, 96 cells, 14 faults, 3 thermal events)"
    )

    count = 4000
    validate = per_second(lambda: validate_envelope(document), count=count)
    parse = per_second(
        lambda: parse_json_strict(raw, max_bytes=MAX_ENVELOPE_BYTES, max_depth=MAX_ENVELOPE_DEPTH),
        count=count,
    )
    both = per_second(lambda: parse_envelope(raw), count=count)
    plain = per_second(lambda: json.loads(raw), count=count)
    print(f"schema validation of a parsed envelope:     {validate:10,.0f} envelopes/s")
    print(f"parse_envelope (strict parse + validation): {both:10,.0f} envelopes/s")
    print(f"  for reference: parse_json_strict alone    {parse:10,.0f} /s, json.loads alone {plain:,.0f} /s")

    context = BatteryContext(*LFP_CELL_WINDOW_V, cells_in_series=LFP_CELLS_IN_SERIES)
    clean = facts_of(lfp_history(100))
    tripping_payloads = lfp_history(100)
    for index in range(5, 100, 10):  # every tenth snapshot: SOH jumps, cycle count rolls back
        tripping_payloads[index]["soh_pct"] += 6.0
        tripping_payloads[index]["cycle_count"] = 3
    tripping = facts_of(tripping_payloads)
    flag_count = sum(len(flags) for flags in evaluate_history(context, tripping).values())
    assert not any(evaluate_history(context, clean).values())

    count = 300
    clean_rate = per_second(lambda: evaluate_history(context, clean), count=count)
    tripping_rate = per_second(lambda: evaluate_history(context, tripping), count=count)
    print(f"evaluate_history, 100 clean snapshots:      {clean_rate:10,.0f} histories/s")
    print(f"evaluate_history, 100 with {flag_count} flags:       {tripping_rate:10,.0f} histories/s")


if __name__ == "__main__":
    main()
