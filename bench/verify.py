"""The offline verifier on a 100,000-event bundle, beside raw SHA-256 hashing of the same event bodies.

Run from the repository root: `.venv/bin/python bench/verify.py [EVENTS]`. No database: the bundle comes
from the test fixture generator (`tests/custody/bundle_fixtures.py`), with every leaf of the tree in the
bundle (so inclusion is checked by rebuilding the tree) and, in a second run, with leaves outside it (so
each audit path is verified on its own).

Printed, each the median of several runs in this process:
- raw hashing: SHA-256 of each body's canonical bytes, serialised beforehand (the floor any verifier
  pays), and `json.dumps` + SHA-256 of each body (hashing the bodies as objects, without RFC 8785);
- what the standard library's C JSON encoder and parser alone cost over the same bodies: a verifier of
  this contract writes each body's RFC 8785 bytes and reads every body, so these bound it from below;
- `verify_bundle` on the parsed bundle, with the time of each check, and the ratio to both;
- the strict parse of the file (`parse_bundle`), which the command adds to `verify_bundle`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.canonical import canonicalize
from core.signing import ed25519_backend
from custody.verify import parse_bundle, verify_bundle
from tests.custody.bundle_fixtures import build_bundle

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
EVENTS_PER_BATTERY = 10
LOTS = 50  # two events each
SNAPSHOT_BATTERIES = 500  # two signed snapshots each (intake and grading), every fourth payload withheld
RUNS = 3


def median_time(work: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    """The median time of several runs, and the result of that median run."""
    runs_done = []
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        runs_done.append((time.perf_counter() - started, result))
    runs_done.sort(key=lambda run: run[0])
    return runs_done[len(runs_done) // 2]


def build(foreign_leaves: int) -> tuple[Any, float]:
    batteries = (EVENTS - 2 * LOTS) // EVENTS_PER_BATTERY
    started = time.perf_counter()
    kit = build_bundle(
        batteries=batteries,
        events_per_battery=EVENTS_PER_BATTERY,
        lots=LOTS,
        foreign_leaves=foreign_leaves,
        withheld_every=4,
        snapshot_batteries=SNAPSHOT_BATTERIES,
        witnesses=2,
    )
    return kit, time.perf_counter() - started


def bench(label: str, foreign_leaves: int) -> None:
    kit, built = build(foreign_leaves)
    bundle = kit.bundle
    events = len(bundle["events"])
    bodies = [entry["body"] for entry in bundle["events"]]
    canonical = [canonicalize(body) for body in bodies]
    payload_bytes = sum(len(item) for item in canonical)
    raw = kit.dumps()
    print(
        f"\n== {label}: {events:,} events, {len(bundle['snapshots']):,} snapshots, tree size "
        f"{bundle['checkpoint']['tree_size']:,}, file {len(raw) / 1e6:.1f} MB (generated in {built:.1f} s)"
    )

    sha256 = hashlib.sha256
    floor, _ = median_time(lambda: [sha256(item).digest() for item in canonical])
    dumps = json.dumps
    naive, _ = median_time(lambda: [sha256(dumps(body).encode()).digest() for body in bodies])
    whole_file, _ = median_time(lambda: sha256(raw).digest())
    # Floors of any stdlib verifier: the contract hashes RFC 8785 bytes of each body, which a verifier
    # must write from the object (the C encoder, sorting keys, is the cheapest writer and is exact for
    # the usual body), and it must read the bodies to check the chains (the C parser).
    encoder = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), sort_keys=True, check_circular=False
    )
    encode_all, _ = median_time(lambda: encoder.encode(bodies))  # one call: no per-call overhead
    array = "[" + ",".join(item.decode("utf-8") for item in canonical) + "]"
    parse_all, _ = median_time(lambda: json.loads(array))
    parse, parsed = median_time(lambda: parse_bundle(raw), runs=1)
    verified, report = median_time(lambda: verify_bundle(parsed, kit.log_vkey))
    assert report.ok, report.failure
    print(f"raw SHA-256 of the canonical bodies ({payload_bytes / 1e6:.1f} MB)  {floor:7.3f} s")
    print(f"json.dumps + SHA-256 of each body                  {naive:7.3f} s")
    print(f"SHA-256 of the whole bundle file                   {whole_file:7.3f} s")
    print(
        f"C JSON encoder alone, all bodies in one call       {encode_all:7.3f} s   "
        f"{encode_all / floor:5.1f}x the raw hashing (the floor of writing RFC 8785 bytes)"
    )
    print(
        f"C JSON parser alone, all bodies in one call        {parse_all:7.3f} s   "
        f"{parse_all / floor:5.1f}x the raw hashing (the floor of reading the bodies)"
    )
    print(
        f"verify_bundle                                      {verified:7.3f} s   "
        f"{verified / floor:5.1f}x the raw hashing, {verified / naive:4.1f}x dumps + hashing "
        f"({events / verified:,.0f} events/s, inclusion by {report.inclusion})"
    )
    for stage, seconds in report.timings.items():
        print(f"    {stage:<12} {seconds:7.3f} s")
    print(f"strict parse of the file (the command adds it)     {parse:7.3f} s")


def main() -> None:
    print(f"Python {sys.version.split()[0]}, Ed25519 verification through {ed25519_backend()}")
    bench("every leaf in the bundle", foreign_leaves=0)
    bench("leaves outside the bundle", foreign_leaves=EVENTS // 10)


if __name__ == "__main__":
    main()
