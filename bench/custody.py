"""Custody on PostgreSQL: events appended per second through the service, checkpoint delay, bundle
export and offline verification of a 100,000-event bundle beside raw SHA-256 of the same data.

Run from the repository root: `.venv/bin/python bench/custody.py` (PostgreSQL server from
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432). It creates its own scratch database
`voltrace_bench_custody` (or BENCH_DATABASE), drops it at the end, and never touches another database.

1. Setup: an OEM registers BATTERIES batteries through `passport.services.register_batteries` (1,000 a
   call); each registration appends its `registered` event in the same transaction (rate printed).
2. Appends: writer processes record intakes through `custody.services.record_intake`, one request and one
   transaction per event, with everything a request does: row lock, chain head, state machine, the
   site's licence check at the step's time (`licensing.ensure_permitted`), the event insert and its log
   leaf queued. One writer, then two (on disjoint batteries, two recyclers' sites), while a separate
   process runs the sequencer (`sequence_log`, what the Celery task does). Reports events/s committed and
   the delay from the last commit to a signed checkpoint covering every event. Beside them, the floor
   measured in the same run: one- and two-process rates of transactions that insert one tiny row and
   commit (the disk's flush latency bounds every path that commits once per event).
3. Bundle: the rest of the batteries are taken in, then one bundle holds the chains of all of them
   (2 events each, 100,000 events): export time, then `custody.verify` (parse + every check) beside
   raw SHA-256 of the same bytes (every event body and its leaf hash) in the same run.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DATABASE = os.environ.get("BENCH_DATABASE", "voltrace_bench_custody")
os.environ["DATABASE_URL"] = f"{SERVER_URL}/{DATABASE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

import django  # noqa: E402
import psycopg  # noqa: E402

BATTERIES = int(os.environ.get("BENCH_BATTERIES", 50_000))  # 2 events each in the bundle: 100,000 events
WRITER_EVENTS = int(os.environ.get("BENCH_WRITER_EVENTS", 5_000))
BATCH = 500
REGISTRATION_BATCH = 1_000


def _admin(sql: str) -> None:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql)


def code(serial: int) -> str:
    return f"BNCPBAB1234567T2M{serial:07d}"


# ---------------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------------
def setup() -> dict[str, Any]:
    from datetime import date

    from accounts.models import Membership, Organisation, User
    from licensing import local_time
    from licensing.models import Facility, Licence, LicenceEvent
    from passport.models import BatteryModel, ManufacturerCode

    def organisation(name: str, kind: str) -> Organisation:
        return Organisation.objects.create(name=name, kind=kind, country="CN")

    def member(org: Organisation, username: str) -> User:
        user = User.objects.create_user(username=username, password="bench-only-password")  # noqa: S106
        Membership.objects.create(user=user, organisation=org, role=Membership.Role.OPERATOR)
        return user

    def site(org: Organisation, name: str) -> Facility:
        facility = Facility.objects.create(organisation=org, name=name, province="CN-JX", country="CN")
        starts = local_time.start_of_day(date(2024, 1, 1), facility.timezone)
        activities = ["intake", "storage", "dismantling", "second_life", "material_recovery"]
        licence = Licence.objects.create(
            facility=facility,
            kind="hazardous_waste",
            issuing_authority="Bench authority",
            number=f"BENCH-{name}",
            activities=activities,
            valid_from=date(2024, 1, 1),
            starts_at=starts,
        )
        LicenceEvent.objects.create(
            licence=licence, kind="issued", effective_at=starts, new_activities=activities
        )
        return facility

    oem = organisation("Bench OEM", "oem")
    ManufacturerCode.objects.create(code="BNC", oem=oem)
    BatteryModel.objects.create(
        oem=oem, name="BN-LFP-PACK", chemistry="lfp", product_type="P", rated_capacity_ah="280",
        nominal_voltage_v="320", rated_energy_kwh="89.6", mass_kg="520", cell_count=100,
        configuration="100S1P", cell_voltage_min_v="2.5", cell_voltage_max_v="3.65",
    )  # fmt: skip
    first, second = organisation("Bench Recycler A", "recycler"), organisation("Bench Recycler B", "recycler")
    return {
        "oem_user": member(oem, "bench-oem"),
        "writers": [("bench-a", site(first, "A1").pk), ("bench-b", site(second, "B1").pk)],
        "users": [member(first, "bench-a"), member(second, "bench-b")],
    }


def register_all() -> float:
    from accounts.models import User
    from passport.services import RegistrationRequest, register_batteries

    user = User.objects.get(username="bench-oem")
    began = time.perf_counter()
    for start in range(0, BATTERIES, REGISTRATION_BATCH):
        requests = [
            RegistrationRequest(code=code(serial), model="BN-LFP-PACK")
            for serial in range(start + 1, min(start + REGISTRATION_BATCH, BATTERIES) + 1)
        ]
        register_batteries(requests=requests, by=user)
    return BATTERIES / (time.perf_counter() - began)


# ---------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------
def writer(username: str, facility_id: int, serials: list[int], batch: int, start: Any, done: Any) -> None:
    """Record one intake per battery through the service: one request (transaction) each, or `batch`
    batteries per request through the set-based batch intake."""
    django.setup()
    from django.db import connection

    from accounts.models import User
    from custody.services import IntakeItem, record_intake, record_intakes

    user = User.objects.select_related("membership__organisation").get(username=username)
    connection.ensure_connection()
    start.wait()
    if batch <= 1:
        for serial in serials:
            record_intake(by=user, code=code(serial), facility=facility_id)
    else:
        for first in range(0, len(serials), batch):
            items = [IntakeItem(code=code(serial)) for serial in serials[first : first + batch]]
            record_intakes(by=user, facility=facility_id, items=items)
    done.put(time.perf_counter())
    connection.close()


def committer(rows: int, start: Any, done: Any) -> None:
    """The machine's floor for one transaction per event: a one-row insert and its commit, nothing else."""
    with psycopg.connect(os.environ["DATABASE_URL"]) as raw:
        start.wait()
        for value in range(rows):
            raw.execute("INSERT INTO bench_commit (value) VALUES (%s)", [value])
            raw.commit()
    done.put(time.perf_counter())


def commit_floor(processes: int, rows: int = 2_000) -> float:
    """Commits per second of `processes` connections each committing one tiny row at a time."""
    _admin_database("CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, value integer)")
    context = multiprocessing.get_context("spawn")
    start, done = context.Barrier(processes + 1), context.Queue()
    workers = [context.Process(target=committer, args=(rows, start, done)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    last = max(done.get() for _ in workers)
    for worker in workers:
        worker.join()
    _admin_database("DROP TABLE bench_commit")
    return processes * rows / (last - began)


def _admin_database(sql: str) -> None:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as raw:
        raw.execute(sql)


def sequencer(stop: Any) -> None:
    """What the Celery worker does after commits: sequence pending hashes, publish a checkpoint when due."""
    django.setup()
    from django.db import connection

    from custody.transparency import services

    while not stop.is_set():
        services.sequence_log()
        time.sleep(0.2)
    connection.close()


def append_phase(assignments: list[tuple[str, int, list[int]]], batch: int = 1) -> dict[str, float]:
    from custody.models import Checkpoint, CustodyEvent, LogState

    context = multiprocessing.get_context("spawn")
    start, stop, done = context.Barrier(len(assignments) + 1), context.Event(), context.Queue()
    target = CustodyEvent.objects.count() + sum(len(serials) for _u, _f, serials in assignments)
    worker = context.Process(target=sequencer, args=(stop,))
    worker.start()
    processes = [
        context.Process(target=writer, args=(username, facility, serials, batch, start, done))
        for username, facility, serials in assignments
    ]
    for process in processes:
        process.start()
    start.wait()
    began = time.perf_counter()
    checkpoint_at = None
    while checkpoint_at is None:
        if (
            LogState.objects.values_list("tree_size", flat=True).first() or 0
        ) >= target and Checkpoint.objects.filter(tree_size__gte=target).exists():
            checkpoint_at = time.perf_counter()
        time.sleep(0.01)
    last_commit = max(done.get() for _ in processes)
    stop.set()
    for process in [*processes, worker]:
        process.join()
    events = sum(len(serials) for _u, _f, serials in assignments)
    return {
        "events": events,
        "rate": events / (last_commit - began),
        "checkpoint_delay_ms": (checkpoint_at - last_commit) * 1000,
    }


# ---------------------------------------------------------------------------------------------------
# Bundle and verifier
# ---------------------------------------------------------------------------------------------------
def bundle_figures(path: Path) -> dict[str, float]:
    from custody import bundle
    from custody.transparency.keys import log_signer
    from custody.transparency.services import publish_checkpoint, sequence_pending
    from custody.verify import parse_bundle, verify_bundle
    from passport.models import Battery

    sequence_pending()
    publish_checkpoint()
    batteries = list(Battery.objects.order_by("code"))
    began = time.perf_counter()
    prepared = bundle.prepare_bundle(bundle.BundleScope(batteries=batteries))
    with open(path, "w", encoding="utf-8") as out:
        bundle.write_bundle(bundle.iter_bundle(prepared), out)
    export_seconds = time.perf_counter() - began

    raw = path.read_bytes()
    began = time.perf_counter()
    report = verify_bundle(parse_bundle(raw), log_signer().verifier.vkey)
    verify_seconds = time.perf_counter() - began
    assert report.ok, report.summary()

    # The same data, hashed and nothing else: every event body (its RFC 8785 bytes, as stored) and every
    # leaf hash over it, then the whole file once.
    bodies = [
        json.dumps(event["body"], separators=(",", ":"), sort_keys=True).encode()
        for event in json.loads(raw)["events"]
    ]
    began = time.perf_counter()
    for body in bodies:
        hashlib.sha256(b"\x00" + hashlib.sha256(body).digest()).digest()
    raw_event_seconds = time.perf_counter() - began
    began = time.perf_counter()
    hashlib.sha256(raw).digest()
    raw_file_seconds = time.perf_counter() - began
    return {
        "events": prepared.event_count,
        "bytes": len(raw),
        "export_s": export_seconds,
        "verify_s": verify_seconds,
        "raw_events_s": raw_event_seconds,
        "raw_file_s": raw_file_seconds,
    }


def main() -> None:
    _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _admin(f"CREATE DATABASE {DATABASE}")
    try:
        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        call_command("migrate", verbosity=0)
        print(f"PostgreSQL {connection.pg_version // 10000}, database {DATABASE}, {os.cpu_count()} CPUs")
        context = setup()
        rate = register_all()
        print(
            f"\nRegistration through the passport service: {BATTERIES:,} batteries at {rate:,.0f}/s, "
            "each with its event"
        )

        (user_a, site_a), (user_b, site_b) = context["writers"]
        serials = iter(range(1, BATTERIES + 1))
        take = lambda count: [next(serials) for _ in range(count)]  # noqa: E731
        floors = [commit_floor(processes) for processes in (1, 2)]
        print(
            "\nThe floor in this run, one-row transactions with nothing else in them (a commit per event "
            f"is the limit of any per-event path): {floors[0]:,.0f}/s from one process, "
            f"{floors[1]:,.0f}/s from two"
        )
        print(
            "\nAppends of intakes through the service (row lock, state machine, licence check at the step's "
            "time, event, log leaf), a sequencer process running:"
        )
        for label, batch in (("one request and transaction per event (record_intake)", 1),
                             (f"batches of {BATCH} per request (record_intakes)", BATCH)):  # fmt: skip
            print(f"  {label}")
            for writers in (1, 2):
                assignments = [
                    (user, site, take(WRITER_EVENTS)) for user, site in context["writers"][:writers]
                ]
                result = append_phase(assignments, batch)
                print(
                    f"    {writers} writer{'s' if writers > 1 else ''}: {result['events']:,} events at "
                    f"{result['rate']:,.0f}/s; a signed checkpoint covered all of them "
                    f"{result['checkpoint_delay_ms']:,.0f} ms after the last commit"
                )
        rest = list(serials)
        half = len(rest) // 2
        append_phase([(user_a, site_a, rest[:half]), (user_b, site_b, rest[half:])], BATCH)

        with tempfile.TemporaryDirectory() as folder:
            figures = bundle_figures(Path(folder) / "bundle.json")
        print(
            f"\nBundle of {figures['events']:,} events ({figures['bytes'] / 1e6:.1f} MB): exported in "
            f"{figures['export_s']:.2f} s ({figures['events'] / figures['export_s']:,.0f} events/s)"
        )
        print(
            f"Offline verification (custody.verify: parse + every check): {figures['verify_s']:.2f} s; "
            "raw SHA-256 "
            f"of the same data: {figures['raw_events_s']:.2f} s per event body and leaf "
            f"({figures['verify_s'] / figures['raw_events_s']:.1f}x), {figures['raw_file_s']:.3f} s for the "
            f"whole file in one pass ({figures['verify_s'] / figures['raw_file_s']:.0f}x)"
        )
        connections.close_all()
    finally:
        _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
