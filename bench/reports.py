"""Custody reports on PostgreSQL: time and peak memory to build each format for 1,000 and 10,000
batteries with 10 custody events each, against the issue's goals.

Run from the repository root: `.venv/bin/python bench/reports.py` (PostgreSQL server from
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432). It creates its own scratch database
`voltrace_bench_reports`, drops it at the end, and never touches another database.

1. Seed: an OEM, a licensed recycler site and an auditor; the batteries by bulk insert and their events
   (registered, intake, then 8 gradings at the licensed site: 10 per battery) as real hash-chained
   bodies written with COPY, then every event hash sequenced into the transparency log and a signed
   checkpoint published, so bundles verify. (Rate printed.)
2. For each scope size (BENCH_SIZES, default "1000,10000") and format (BENCH_FORMATS, default every
   installed one of csv, bundle, epcis, pdf) a fresh process requests the report as the auditor
   (`reports.services.request_report`: scope resolution, gate) and builds it as the worker does
   (`build_report`: the writer, SHA-256, the signed manifest). It reports the build time, units written
   (rows, events, pages), file size, the process's peak RSS (ru_maxrss) and, in a second run under
   tracemalloc, the peak of Python allocations during the build. The PDF is measured only up to
   BENCH_PDF_MAX batteries (default 1000) since its goal is a rate.

Goals (issue 7): CSV of 10,000 batteries < 5 s; bundle < 20 s; peak memory flat with the scope;
PDF >= 50 pages/s.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DATABASE = "voltrace_bench_reports"
os.environ["DATABASE_URL"] = f"{SERVER_URL}/{DATABASE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
if "--child" not in sys.argv:
    # One scratch folder (media, broker) for this run and its child processes, removed at the end.
    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="voltrace-bench-reports-")

import django  # noqa: E402
import psycopg  # noqa: E402

SIZES = [int(size) for size in os.environ.get("BENCH_SIZES", "1000,10000").split(",") if size.strip()]
EVENTS_PER_BATTERY = 10
PDF_MAX = int(os.environ.get("BENCH_PDF_MAX", "1000"))
# tracemalloc slows Python allocation-heavy code several times over (WeasyPrint most of all): the PDF's
# memory is read from RSS only unless asked for.
TRACED = os.environ.get("BENCH_TRACE_FORMATS", "csv,bundle,epcis").split(",")
GOALS = {"csv": 5.0, "bundle": 20.0}  # seconds for 10,000 batteries
PDF_PAGES_PER_SECOND = 50.0
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def _admin(sql: str) -> None:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql)


def code(serial: int) -> str:
    return f"BNCPBAB1234567T2M{serial:07d}"


# ---------------------------------------------------------------------------------------------------
# Seeding: bulk SQL, never the services
# ---------------------------------------------------------------------------------------------------
def seed(batteries: int) -> dict[str, float]:
    from datetime import date

    from django.db import connection

    from accounts.models import Membership, Organisation, User
    from bench.seeding import copy_event_chains, licensed_site
    from custody.transparency.services import publish_checkpoint, sequence_pending
    from passport.models import Battery, BatteryModel, ManufacturerCode

    oem = Organisation.objects.create(name="Bench OEM", kind="oem", country="CN")
    recycler = Organisation.objects.create(name="Bench Recycler", kind="recycler", country="CN")
    auditor = Organisation.objects.create(name="Bench Audit", kind="auditor", country="CN")
    user = User.objects.create_user("bench-auditor", password=None)
    Membership.objects.create(user=user, organisation=auditor, role="viewer")
    ManufacturerCode.objects.create(code="BNC", oem=oem)
    model = BatteryModel.objects.create(
        oem=oem, name="BN-LFP-PACK", chemistry="lfp", product_type="P", rated_capacity_ah="280",
        nominal_voltage_v="320", rated_energy_kwh="89.6", mass_kg="520", cell_count=100,
        configuration="100S1P", cell_voltage_min_v="2.5", cell_voltage_max_v="3.65",
    )  # fmt: skip
    site = licensed_site(oem, recycler, since=date(2024, 1, 1))

    began = time.perf_counter()
    rows = [
        Battery(
            code=code(serial),
            scheme="gbt34014",
            manufacturer_code="BNC",
            product_type="P",
            battery_type="B",
            spec_code="AB",
            traceability_code="1234567",
            serial=f"{serial:07d}",
            production_date=date(2024, 6, 1),
            oem=oem,
            battery_model=model,
            status="registered",
            current_custodian=recycler,
            origin="verified",
            registered_by=oem,
        )
        for serial in range(1, batteries + 1)
    ]
    for start in range(0, len(rows), 5_000):
        Battery.objects.bulk_create(rows[start : start + 5_000])
    ids = dict(Battery.objects.values_list("code", "pk"))
    battery_seconds = time.perf_counter() - began

    began = time.perf_counter()
    events = copy_event_chains(
        ((ids[code(serial)], code(serial)) for serial in range(1, batteries + 1)),
        site,
        events_per_battery=EVENTS_PER_BATTERY,
        start=T0,
        stagger=timedelta(minutes=1),
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    event_seconds = time.perf_counter() - began
    began = time.perf_counter()
    sequence_pending(max_batch=10_000)
    publish_checkpoint()
    log_seconds = time.perf_counter() - began
    return {
        "batteries": batteries,
        "events": events,
        "battery_s": battery_seconds,
        "event_s": event_seconds,
        "log_s": log_seconds,
    }


# ---------------------------------------------------------------------------------------------------
# One measurement, in a process of its own
# ---------------------------------------------------------------------------------------------------
def child(report_format: str, size: int, trace: bool) -> dict[str, Any]:
    django.setup()
    from django.db import connection

    from accounts.models import User
    from reports import services
    from reports.models import Report

    user = User.objects.get(username="bench-auditor")
    codes = [code(serial) for serial in range(1, size + 1)]
    began = time.perf_counter()
    report = services.request_report(user=user, format=report_format, battery_codes=codes)
    request_seconds = time.perf_counter() - began
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    began = time.perf_counter()
    report = services.build_report(report_id=report.pk)
    build_seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    assert report is not None
    assert report.status == Report.Status.SUCCEEDED, (report.error_code, report.error_message)
    main = report.files.get(kind="main")
    result = {
        "format": report_format,
        "size": size,
        "request_s": request_seconds,
        "build_s": build_seconds,
        "units": report.unit_count,
        "bytes": main.size,
        "rss_before_mb": rss_before / 1024,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_peak_mb": peak / 1e6 if peak is not None else None,
    }
    services.expire_reports(now=report.expires_at + timedelta(seconds=1))  # delete the file
    connection.close()
    return result


def measure(report_format: str, size: int, trace: bool) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", report_format, str(size), "trace" if trace else "time"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{report_format} x {size} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    from reports.formats.registry import FORMATS

    _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _admin(f"CREATE DATABASE {DATABASE}")
    try:
        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        call_command("migrate", verbosity=0)
        print(f"PostgreSQL {connection.pg_version // 10000}, database {DATABASE}, {os.cpu_count()} CPUs")
        figures = seed(max(SIZES))
        print(
            f"\nSeed: {figures['batteries']:,} batteries in {figures['battery_s']:.1f} s (bulk_create); "
            f"{figures['events']:,} hash-chained events in {figures['event_s']:.1f} s "
            f"({figures['events'] / figures['event_s']:,.0f}/s: bodies, RFC 8785, SHA-256, COPY); "
            f"sequenced into the log and checkpointed in {figures['log_s']:.1f} s"
        )
        connections.close_all()
        wanted = os.environ.get("BENCH_FORMATS", "csv,bundle,epcis,pdf").split(",")
        formats = [name for name in wanted if name in FORMATS and FORMATS[name].is_available()]
        missing = [name for name in wanted if name not in formats]
        if missing:
            print(f"(not installed here, skipped: {', '.join(missing)})")
        print(
            "\nformat   batteries  units     MB      request  build     rate           RSS MB"
            "      traced peak MB"
        )
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for report_format in formats:
            for size in SIZES:
                if report_format == "pdf" and size > PDF_MAX:
                    continue
                timed = measure(report_format, size, trace=False)
                traced = measure(report_format, size, trace=True) if report_format in TRACED else None
                results[(report_format, size)] = {
                    **timed,
                    "traced_peak_mb": traced["traced_peak_mb"] if traced else None,
                }
                row = results[(report_format, size)]
                rate = row["units"] / row["build_s"]
                peak = (
                    f"{row['traced_peak_mb']:>14.1f}" if row["traced_peak_mb"] is not None else f"{'-':>14}"
                )
                print(
                    f"{report_format:8} {size:>9,} {row['units']:>9,} {row['bytes'] / 1e6:>7.1f} "
                    f"{row['request_s']:>7.2f}s {row['build_s']:>7.2f}s {rate:>9,.0f} units/s "
                    f"{row['rss_peak_mb']:>7.0f} {peak}",
                    flush=True,
                )
        print("\nAgainst the goals:")
        largest = max(SIZES)
        for report_format, limit in GOALS.items():
            row = results.get((report_format, largest))
            if row is None:
                continue
            if largest < 10_000:
                verdict = "goal is set at 10,000"
            else:
                verdict = "met" if row["build_s"] < limit else "MISSED"
            print(
                f"  {report_format} of {largest:,} batteries: {row['build_s']:.2f} s "
                f"(goal < {limit:.0f} s for 10,000): {verdict}"
            )
        for report_format in formats:
            rows = [results[(report_format, size)] for size in SIZES if (report_format, size) in results]
            if len(rows) > 1:
                traced = (
                    f"traced {rows[0]['traced_peak_mb']:.1f} -> {rows[-1]['traced_peak_mb']:.1f} MB, "
                    if rows[0]["traced_peak_mb"] is not None
                    else ""
                )
                print(
                    f"  {report_format} peak memory from {rows[0]['size']:,} to {rows[-1]['size']:,} "
                    f"batteries: {traced}RSS {rows[0]['rss_peak_mb']:.0f} -> {rows[-1]['rss_peak_mb']:.0f} MB"
                )
        for size in SIZES:
            row = results.get(("pdf", size))
            if row is not None:
                rate = row["units"] / row["build_s"]
                verdict = "met" if rate >= PDF_PAGES_PER_SECOND else "MISSED"
                print(
                    f"  pdf of {size:,} batteries: {rate:,.1f} pages/s "
                    f"(goal >= {PDF_PAGES_PER_SECOND:.0f}): {verdict}"
                )
    finally:
        _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        shutil.rmtree(os.environ["VAR_DIR"], ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "trace")))
    else:
        main()
