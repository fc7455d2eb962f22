"""Licensing at scale: the daily expiry job and the `licence_status` question over 100,000 licences.

Run from the repository root: `.venv/bin/python bench/licensing.py` (PostgreSQL on DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/voltrace). It creates its own scratch database `voltrace_bench`, fills
it with bulk inserts (each licence has 5 events: issued, renewed, scope changed, suspended, reinstated),
runs the expiry job at 10,000 and at 100,000 licences and prints its time and query count (which must
not grow with the number of licences), then the p50/p99 latency of `licence_status`, and drops the
database. The dev database is never touched.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/voltrace")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402

NOW = datetime(2026, 7, 1, 16, 5, tzinfo=UTC)  # the job's daily slot, 00:05 in Asia/Shanghai
FACILITY_LICENCES = 5
ORGANISATION_FACILITIES = 20
ACTIVITIES = ["intake", "storage", "dismantling", "second_life", "material_recovery"]
KINDS = ["miit_second_life", "miit_recycling", "elv_dismantling", "hazardous_waste", "pollutant_discharge"]


def _bulk(model: Any, rows: list[Any]) -> list[Any]:
    return model.objects.bulk_create(rows, batch_size=5000)


def populate(first: int, count: int, rng: random.Random) -> None:
    """Add `count` licences (ids continue from `first`) with their facilities, admins and 5 events each."""
    from accounts.models import Membership, Organisation, User
    from licensing import local_time
    from licensing.models import Facility, Licence, LicenceEvent

    facilities_needed = count // FACILITY_LICENCES
    organisations = _bulk(
        Organisation,
        [
            Organisation(name=f"Bench recycler {first + n}", kind="recycler", country="CN")
            for n in range(0, facilities_needed, ORGANISATION_FACILITIES)
        ],
    )
    users = _bulk(
        User, [User(username=f"bench-admin-{org.pk}", email=f"a{org.pk}@bench.test") for org in organisations]
    )
    _bulk(
        Membership,
        [
            Membership(user=user, organisation=org, role="admin")
            for user, org in zip(users, organisations, strict=True)
        ],
    )
    facilities = _bulk(
        Facility,
        [
            Facility(
                organisation=organisations[n // ORGANISATION_FACILITIES],
                name=f"Bench facility {first + n}",
                province=rng.choice(["CN-JX", "CN-GD", "CN-JS", "CN-ZJ"]),
                country="CN",
                timezone="Asia/Shanghai",
            )
            for n in range(facilities_needed)
        ],
    )
    licences = []
    for n in range(count):
        valid_from = date(2020, 1, 1) + timedelta(days=rng.randrange(0, 1500))
        # Ends spread over ~4 years around NOW: some lapse before it, some fall in the warning windows.
        valid_until = date(2024, 7, 1) + timedelta(days=rng.randrange(0, 1460))
        valid_until = max(valid_until, valid_from + timedelta(days=30))
        licences.append(
            Licence(
                facility=facilities[n // FACILITY_LICENCES],
                kind=KINDS[n % len(KINDS)],
                issuing_authority="Bench Provincial Department of Ecology and Environment",
                number=f"BENCH-{first + n:07d}",
                activities=ACTIVITIES,
                valid_from=valid_from,
                valid_until=valid_until,
                starts_at=local_time.start_of_day(valid_from, "Asia/Shanghai"),
                ends_at=local_time.end_of_day(valid_until, "Asia/Shanghai"),
            )
        )
    licences = _bulk(Licence, licences)
    events = []
    for licence in licences:
        start = licence.starts_at
        renewed_until = licence.valid_until + timedelta(days=rng.choice([0, 0, 365]))
        events.append(
            LicenceEvent(
                licence=licence,
                kind="issued",
                effective_at=start,
                reason="issued",
                new_valid_until=licence.valid_until,
                new_ends_at=licence.ends_at,
                new_activities=ACTIVITIES,
            )
        )
        if renewed_until > licence.valid_until:
            events.append(
                LicenceEvent(
                    licence=licence,
                    kind="renewed",
                    effective_at=start + timedelta(days=20),
                    reason="renewed",
                    new_valid_until=renewed_until,
                    new_ends_at=local_time.end_of_day(renewed_until, "Asia/Shanghai"),
                )
            )
        else:
            events.append(
                LicenceEvent(
                    licence=licence,
                    kind="scope_changed",
                    effective_at=start + timedelta(days=20),
                    reason="scope",
                    new_activities=ACTIVITIES,
                )
            )
        events.append(
            LicenceEvent(
                licence=licence,
                kind="scope_changed",
                effective_at=start + timedelta(days=22),
                reason="scope",
                new_activities=ACTIVITIES[:4],
            )
        )
        events.append(
            LicenceEvent(
                licence=licence,
                kind="suspended",
                effective_at=start + timedelta(days=24),
                reason="inspection",
            )
        )
        events.append(
            LicenceEvent(
                licence=licence, kind="reinstated", effective_at=start + timedelta(days=26), reason="fixed"
            )
        )
    _bulk(LicenceEvent, events)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def run_job(label: str, now: datetime) -> tuple[float, int, dict[str, int]]:
    from licensing import services

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        run = services.run_expiry_job(now=now)
        elapsed = time.perf_counter() - started
    print(
        f"  {label:<34} {elapsed * 1000:9.1f} ms  {len(captured.captured_queries):3d} queries  {run.counts}"
    )
    return elapsed, len(captured.captured_queries), run.counts


def status_latency(rng: random.Random, samples: int = 3000) -> None:
    from licensing import selectors
    from licensing.models import Facility

    facilities = list(Facility.objects.order_by("?")[:samples])
    timings = []
    for facility in facilities:
        at = NOW - timedelta(days=rng.randrange(0, 2000), seconds=rng.randrange(0, 86400))
        started = time.perf_counter()
        selectors.licence_status(facility=facility, activity=rng.choice(ACTIVITIES), at=at)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(
        f"  licence_status over {len(timings)} random facilities/instants: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("bench/licensing.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    # The scratch database's schema comes from the models (no migration history is needed); the
    # append-only triggers only act on UPDATE/DELETE, which the benchmark never issues.
    connection.settings_dict["TEST"].update(NAME="voltrace_bench", MIGRATE=False)
    old_config = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
    try:
        rng = random.Random(20260701)
        print(f"Expiry job at {NOW.isoformat()} (PostgreSQL {connection.pg_version // 10000}):")
        started = time.perf_counter()
        populate(0, 10_000, rng)
        print(f"  inserted 10,000 licences + events in {time.perf_counter() - started:.1f} s")
        _t1, small_queries, _c1 = run_job("10,000 licences, first run", NOW)
        run_job("10,000 licences, second run", NOW)
        started = time.perf_counter()
        populate(10_000, 90_000, rng)
        print(f"  inserted 90,000 more licences + events in {time.perf_counter() - started:.1f} s")
        _t2, large_queries, _c2 = run_job("100,000 licences, first run", NOW)
        run_job("100,000 licences, second run", NOW)
        run_job("100,000 licences, next day", NOW + timedelta(days=1))
        print(
            f"  query count 10k vs 100k: {small_queries} vs {large_queries} "
            f"({'constant' if small_queries == large_queries else 'GROWS'})"
        )
        status_latency(rng)
    finally:
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
