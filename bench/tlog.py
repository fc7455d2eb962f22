"""The transparency log on PostgreSQL: append throughput, checkpoint delay, proof cost at 10^4..10^6 leaves.

Run from the repository root: `.venv/bin/python bench/tlog.py` (PostgreSQL server from DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/). It creates its own scratch database `voltrace_bench_tlog` (or
BENCH_DATABASE), drops it at the end, and never touches another database.

1. Appends: writers commit one event hash per transaction through `enqueue_leaf` (as custody writers do)
   while a separate sequencer process runs `sequence_log` (the Celery task's service) in a loop; one writer
   process, then two. Reports events/s until every hash has a leaf, and the delay from the last commit to a
   signed checkpoint covering all of them.
2. Proofs: the log is grown with bulk-queued hashes (sequencer throughput is printed) to 10^4, 10^5 and
   10^6 leaves; at each size, inclusion-proof latency through `inclusion_proof_for` (leaf lookup plus the
   stored subtrees of path and root), the rows and queries each proof reads, and a consistency proof.
3. Root over 1,000,000 leaves: computed in Python from the leaf hashes (PERFORMANCE.md: 0.85 s), beside
   raw SHA-256 of the same 2M hashes, and from the stored subtrees.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DATABASE = os.environ.get("BENCH_DATABASE", "voltrace_bench_tlog")
os.environ["DATABASE_URL"] = f"{SERVER_URL}/{DATABASE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

import django  # noqa: E402
import psycopg  # noqa: E402

WRITER_EVENTS = 10_000
PROOF_SAMPLES = 300
SIZES = [10_000, 100_000, 1_000_000]


def _admin(sql: str) -> None:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql)


def _setup_django() -> None:
    django.setup()


# Processes
def writer(count: int, seed: int, start: Any, done: Any) -> None:
    """Commit `count` event hashes, one transaction each, as a custody writer does."""
    _setup_django()
    from django.db import connection, transaction

    from custody.transparency.services import enqueue_leaf

    rng = random.Random(seed)
    hashes = [rng.randbytes(32) for _ in range(count)]
    connection.ensure_connection()
    start.wait()
    for event_hash in hashes:
        with transaction.atomic():
            enqueue_leaf(event_hash=event_hash)
    done.put(time.perf_counter())
    connection.close()


def sequencer(stop: Any) -> None:
    """What the Celery worker does on every commit: sequence pending hashes, publish when due."""
    _setup_django()
    from django.db import connection

    from custody.transparency import services

    while not stop.is_set():
        services.sequence_log()
        time.sleep(services.SEQUENCE_DELAY.total_seconds())  # the countdown of the next commit's task
    connection.close()


def append_phase(writers: int) -> dict[str, float]:
    from custody.models import Checkpoint, LogState

    context = multiprocessing.get_context("spawn")
    start, stop, done = context.Barrier(writers + 1), context.Event(), context.Queue()
    size_before = LogState.objects.get().tree_size
    target = size_before + writers * WRITER_EVENTS
    worker = context.Process(target=sequencer, args=(stop,))
    worker.start()
    processes = [
        context.Process(target=writer, args=(WRITER_EVENTS, 1000 * (writers + 1) + n, start, done))
        for n in range(writers)
    ]
    for process in processes:
        process.start()
    start.wait()
    began = time.perf_counter()
    sequenced_at = checkpoint_at = None
    while checkpoint_at is None:
        state = LogState.objects.get()
        now = time.perf_counter()
        if sequenced_at is None and state.tree_size >= target:
            sequenced_at = now
        if Checkpoint.objects.filter(tree_size__gte=target).exists():
            checkpoint_at = now
        time.sleep(0.01)
    last_commit = max(done.get() for _ in processes)
    stop.set()
    for process in [*processes, worker]:
        process.join()
    appended = target - size_before
    return {
        "events": appended,
        "commit_rate": appended / (last_commit - began),
        "sequenced_rate": appended / ((sequenced_at or checkpoint_at) - began),
        "checkpoint_delay_ms": (checkpoint_at - last_commit) * 1000,
    }


# Growth and proofs
def grow_to(size: int, rng: random.Random) -> tuple[float, int]:
    """Queue random hashes in bulk and sequence them; returns (leaves per second, leaves added)."""
    from django.db import connection
    from django.utils import timezone

    from custody.models import LogState, PendingLeaf
    from custody.transparency.services import sequence_pending

    missing = size - LogState.objects.get().tree_size
    now = timezone.now()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {PendingLeaf._meta.db_table} (event_hash, enqueued_at) FROM STDIN") as copy,
    ):
        for _ in range(missing):
            copy.write_row((rng.randbytes(32), now))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # a real queue is never this long: let the planner know
    began = time.perf_counter()
    added = sequence_pending(max_batch=10_000)
    return added / (time.perf_counter() - began), added


def proof_figures(size: int, rng: random.Random) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from custody.merkle import inclusion_proof, leaf_hash, verify_consistency, verify_inclusion
    from custody.models import LogLeaf
    from custody.transparency.selectors import consistency_proof_between, inclusion_proof_for
    from custody.transparency.store import StoredTree

    indices = [rng.randrange(size) for _ in range(PROOF_SAMPLES)]
    hashes = dict(LogLeaf.objects.filter(index__in=indices).values_list("index", "event_hash"))
    latencies, rows, queries = [], [], []
    for index in indices:
        event_hash = bytes(hashes[index])
        began = time.perf_counter()
        proof = inclusion_proof_for(event_hash=event_hash, tree_size=size)
        latencies.append(time.perf_counter() - began)
        with CaptureQueriesContext(connection) as captured:
            inclusion_proof_for(event_hash=event_hash, tree_size=size)
        queries.append(len(captured))
        verify_inclusion(
            leaf=leaf_hash(event_hash),
            index=index,
            size=size,
            proof=proof.inclusion_path,
            root=proof.root_hash,
        )
        store = StoredTree()
        inclusion_proof(store, index, size)
        rows.append(store.rows_read)
    consistency_latencies = []
    for _ in range(50):
        first = rng.randrange(1, size)
        began = time.perf_counter()
        proof = consistency_proof_between(first=first, second=size)
        consistency_latencies.append(time.perf_counter() - began)
        verify_consistency(
            first=first,
            second=size,
            first_root=proof.first_root,
            second_root=proof.second_root,
            proof=proof.consistency_path,
        )
    latencies.sort()
    return {
        "p50_us": statistics.median(latencies) * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99) - 1] * 1e6,
        "rows": statistics.mean(rows),
        "rows_max": max(rows),
        "queries": statistics.mean(queries),
        "path": len(proof.consistency_path),
        "consistency_p50_us": statistics.median(consistency_latencies) * 1e6,
    }


def root_figures() -> dict[str, float]:
    import hashlib

    from custody.merkle import MemoryTree, inclusion_proof, leaf_hash, root_at, root_from_leaf_hashes
    from custody.models import LogLeaf, LogState
    from custody.transparency.store import StoredTree

    size = LogState.objects.get().tree_size
    event_hashes = [
        bytes(h)
        for h in LogLeaf.objects.order_by("index")
        .values_list("event_hash", flat=True)
        .iterator(chunk_size=50_000)
    ]
    began = time.perf_counter()
    leaves = [leaf_hash(h) for h in event_hashes]
    python_root = root_from_leaf_hashes(leaves)
    python_seconds = time.perf_counter() - began
    began = time.perf_counter()
    for h in event_hashes:  # the same number of SHA-256 calls on inputs of the same sizes
        hashlib.sha256(b"\x00" + h).digest()
    for h in leaves[: len(leaves) - 1]:
        hashlib.sha256(b"\x01" + h + h).digest()
    raw_seconds = time.perf_counter() - began
    store = StoredTree()
    began = time.perf_counter()
    stored_root = root_at(store, size)
    stored_seconds = time.perf_counter() - began
    assert stored_root == python_root == bytes(LogState.objects.get().root_hash)
    began = time.perf_counter()
    tree = MemoryTree()
    tree.append_leaf_hashes(leaves)
    memory_build_seconds = time.perf_counter() - began
    rng = random.Random(7)
    timings = []
    for _ in range(2000):
        index = rng.randrange(size)
        began = time.perf_counter()
        inclusion_proof(tree, index, size)
        timings.append(time.perf_counter() - began)
    began = time.perf_counter()
    root_from_leaf_hashes(leaves)  # what a proof costs without stored subtrees: rebuilding the tree
    rebuild_seconds = time.perf_counter() - began
    return {
        "size": size,
        "python_s": python_seconds,
        "raw_sha256_s": raw_seconds,
        "stored_ms": stored_seconds * 1000,
        "stored_rows": store.rows_read,
        "memory_build_s": memory_build_seconds,
        "memory_proof_us": statistics.median(timings) * 1e6,
        "rebuild_s": rebuild_seconds,
    }


def main() -> None:
    _admin(f"DROP DATABASE IF EXISTS {DATABASE}")
    _admin(f"CREATE DATABASE {DATABASE}")
    try:
        _setup_django()
        from django.core.management import call_command
        from django.db import connection, connections

        from custody.models import LogState

        call_command("migrate", verbosity=0)
        LogState.objects.get_or_create(pk=LogState.SINGLETON)
        rng = random.Random(42)
        print(f"PostgreSQL {connection.pg_version // 10000}, database {DATABASE}, {os.cpu_count()} CPUs")

        rate, added = grow_to(SIZES[0], rng)
        print(f"\nBulk-queued {added:,} hashes sequenced at {rate:,.0f} leaves/s")
        figures = {SIZES[0]: proof_figures(SIZES[0], rng)}

        print(
            f"\nAppends: one transaction per event through enqueue_leaf, {WRITER_EVENTS:,} events per "
            "writer, a sequencer process running sequence_log"
        )
        for writers in (1, 2):
            result = append_phase(writers)
            print(
                f"  {writers} writer process{'es' if writers > 1 else ''}: {result['events']:,} events, "
                f"committed at {result['commit_rate']:,.0f}/s, "
                f"all sequenced at {result['sequenced_rate']:,.0f}/s, "
                f"checkpoint covering them {result['checkpoint_delay_ms']:,.0f} ms after the last commit"
            )

        for size in SIZES[1:]:
            rate, added = grow_to(size, rng)
            print(f"\nBulk-queued {added:,} hashes sequenced at {rate:,.0f} leaves/s")
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            figures[size] = proof_figures(size, rng)

        print(
            "\nInclusion proofs through inclusion_proof_for (leaf lookup + stored subtrees of path and root)"
        )
        print(
            f"  {'leaves':>10} {'p50 µs':>8} {'p99 µs':>8} {'rows/proof':>11} {'max rows':>9} {'queries':>8} "
            f"{'consistency p50 µs':>19}"
        )
        for size, figure in figures.items():
            print(
                f"  {size:>10,} {figure['p50_us']:>8,.0f} {figure['p99_us']:>8,.0f} {figure['rows']:>11.1f} "
                f"{figure['rows_max']:>9} {figure['queries']:>8.1f} {figure['consistency_p50_us']:>19,.0f}"
            )

        root = root_figures()
        print(
            f"\nRoot over {root['size']:,} leaves: {root['python_s']:.2f} s in Python from the leaf hashes "
            f"(raw SHA-256 of the same {2 * root['size'] - 1:,} hashes: {root['raw_sha256_s']:.2f} s); "
            f"{root['stored_ms']:.1f} ms from {root['stored_rows']} stored subtrees"
        )
        print(
            f"Proof arithmetic alone (in-memory tree of every complete subtree, built in "
            f"{root['memory_build_s']:.2f} s): {root['memory_proof_us']:.1f} µs per inclusion proof at "
            f"{root['size']:,} leaves; a proof by rebuilding the tree instead: {root['rebuild_s']:.2f} s"
        )
        connections.close_all()
    finally:
        _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
