"""The public scan page under load, beside a minimal Django view served by the same processes.

Run from the repository root: `.venv/bin/python bench/scan.py` (PostgreSQL server from
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432; Redis for the cache and rate limits
from BENCH_REDIS_URL, default redis://127.0.0.1:6379/15, file cache if it is not reachable).

It creates the scratch database `voltrace_bench_scan` (or BENCH_DATABASE), fills it with 100,000 batteries
(20,000 packs with four modules each, one pack with 300 modules) and their histories, starts gunicorn
(2 gthread workers) on a loopback port, and drives it with `wrk` when installed, else with a Python
thread pool (keep-alive, bounded in time). It prints, in one run:

1. p50/p99 latency and requests/s (the median of BENCH_REPEATS runs, 3 by default) of a minimal
   Django view (`HttpResponse("ok")`), of a template page with one indexed query (PERFORMANCE.md's
   ceiling for the scan page), and of `/p/{code}`, anonymous, with the django-ratelimit check on: as
   first views (each request for a battery nobody asked for before in this run, so every page is
   rendered from the database; the warm-up has batteries of its own) and over 100 popular ones (each
   requested once beforehand, then served from the shared public rendering, kept 30 s), each with the
   CPU time the server side (gunicorn, PostgreSQL, Redis) spent per request, read from /proc: on a
   machine that other work shares, throughput swings with it, while CPU time per request stays put, so
   the ratio is printed both ways;
2. the queries one passport page makes, for a pack with 4 components and one with 300, anonymous and
   as the OEM (legitimate-interest tier), and for modules with 10, 20 and 60 custody events;
3. QR images rendered per second (SVG, PNG) and served from the cache per second;
4. with wrk, p50/p99 of the same four at an offered load of half the minimal view's maximum (64
   connections, each pausing at random between requests), then at a quarter of it, each that can be
   offered it: the latency goal is read at half, since latency at saturation is only the length of the
   queue the load generator keeps full.

Every battery gets 10 hash-chained custody events (registered, intake at a licensed recycler site,
gradings), sequenced into the transparency log under a signed checkpoint, and 10 BMS snapshots with their
summary, as the issue asks; the query count is also printed for three modules given 10, 20 and 60 custody
events (it must not grow with the history). The database is dropped at the end, unless BENCH_REUSE=1,
which keeps it (and the keys it was seeded under) for the next run with BENCH_REUSE=1 to reuse.
"""

from __future__ import annotations

import base64
import functools
import http.client
import itertools
import json
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE = os.environ.get("BENCH_DATABASE", "voltrace_bench_scan")
PACKS = 20_000
MODULES_PER_PACK = 4
HEAVY_PACK_MODULES = 300
DURATION_S = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP_S = 2
# Each load is measured this many times and the run with the median throughput is printed.
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
CONNECTIONS = 16
# At a given offered load each connection pauses between requests; with many connections the pauses,
# not the response times, set the pace, so the load offered is close to the one asked for.
PACED_CONNECTIONS = 64
SAMPLE_CODES = 5_000
# First views: each run asks for batteries in turn, none twice, from a slice of this many (a run that
# needs more says so); its warm-up gets a slice of its own.
FIRST_VIEW_CODES = 12_000
WARMUP_CODES = 3_000
# BENCH_REUSE=1 keeps the seeded database (and the keys it was seeded under) for the next run with it set.
REUSE = os.environ.get("BENCH_REUSE") == "1"
REUSE_DIR = Path(tempfile.gettempdir()) / "voltrace-bench-scan-reuse"
EVENTS_PER_BATTERY = 10
SNAPSHOTS_PER_BATTERY = 10

SETTINGS_MODULE = """
from config.settings import *  # noqa: F403

ROOT_URLCONF = "voltrace_bench_scan_urls"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
"""

URLS_MODULE = """
from django.http import HttpResponse
from django.template import engines
from django.urls import path

from config.urls import urlpatterns as voltrace_urlpatterns
from passport.models import Battery

PAGE = engines["django"].from_string(
    "<!doctype html><html><body><h1>{{ battery.code }}</h1><p>{{ battery.status }}</p></body></html>"
)


def minimal(request):
    return HttpResponse(b"ok", content_type="text/plain")


def one_query(request, code):
    battery = Battery.objects.only("code", "status").get(code=code)
    return HttpResponse(PAGE.render({"battery": battery}, request))


urlpatterns = [
    path("bench/minimal", minimal),
    path("bench/one-query/<str:code>", one_query),
    *voltrace_urlpatterns,
]
"""


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql)


def _redis_reachable() -> bool:
    match = re.match(r"redis://([^:/]+):(\d+)", REDIS_URL)
    if not match:
        return False
    try:
        with socket.create_connection((match.group(1), int(match.group(2))), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _secrets() -> dict[str, str]:
    """Fresh keys for this run; with BENCH_REUSE=1 the same keys as the run that seeded the database."""
    saved = REUSE_DIR / "secrets.json"
    if REUSE and saved.exists():
        return json.loads(saved.read_text())
    values = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "KEY_ENCRYPTION_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "LOG_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "PSEUDONYM_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    if REUSE:
        REUSE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        saved.write_text(json.dumps(values))
    return values


def _environment(workdir: Path, port: int) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "voltrace_bench_scan_settings",
        "PYTHONPATH": f"{workdir}{os.pathsep}{ROOT}",
        "DATABASE_URL": f"{SERVER_URL}/{DATABASE}",
        "DEBUG": "false",
        **_secrets(),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "CONN_MAX_AGE": "600",
        "PASSPORT_SCAN_RATE": "100000000/m",  # the limiter runs on every request but never blocks here
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": str(workdir / "var"),
    }
    if _redis_reachable():
        env["REDIS_URL"] = REDIS_URL
    return env


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
def _code(product: str, serial: int) -> str:
    return f"BNC{product}BA1BENCH01T2M{serial:07d}"


def seed() -> dict[str, object]:
    """100,000 batteries through bulk inserts (the registration service's own insert path)."""
    from datetime import date

    from accounts.models import Membership, Organisation, User
    from passport.models import Battery, BatteryModel, ManufacturerCode

    oem = Organisation.objects.create(name="Bench OEM", kind="oem", country="CN")
    recycler = Organisation.objects.create(name="Bench Recycler", kind="recycler", country="CN")
    user = User.objects.create_user("bench-oem", password=None)
    Membership.objects.create(user=user, organisation=oem, role="admin")
    ManufacturerCode.objects.create(code="BNC", oem=oem)
    ratings = {
        "chemistry": "lfp", "rated_capacity_ah": "280", "expected_cycle_life": 6000,
        "expected_lifetime_years": 12, "cell_voltage_min_v": "2.5", "cell_voltage_max_v": "3.65",
    }  # fmt: skip
    pack_model = BatteryModel.objects.create(
        oem=oem, name="BENCH-PACK", product_type="P", nominal_voltage_v="307.2", rated_energy_kwh="86.016",
        mass_kg="540", cell_count=96, configuration="96S1P", **ratings,
    )  # fmt: skip
    module_model = BatteryModel.objects.create(
        oem=oem, name="BENCH-MOD", product_type="M", nominal_voltage_v="51.2", rated_energy_kwh="14.336",
        mass_kg="88", cell_count=16, configuration="16S1P", **ratings,
    )  # fmt: skip

    def battery(product: str, serial: int, model: BatteryModel, parent_id: int | None) -> Battery:
        return Battery(
            code=_code(product, serial), scheme="gbt34014", manufacturer_code="BNC", product_type=product,
            battery_type="B", spec_code="A1", traceability_code="BENCH01", serial=f"{serial:07d}",
            production_date=date(2026, 2, 21), oem=oem, battery_model=model, parent_id=parent_id,
            status="registered", current_custodian=recycler, origin="verified", registered_by=oem,
        )  # fmt: skip

    started = time.perf_counter()
    pack_ids: list[int] = []
    for start in range(1, PACKS + 1, 5_000):
        batch = [
            battery("P", serial, pack_model, None) for serial in range(start, min(start + 5_000, PACKS + 1))
        ]
        pack_ids.extend(row.pk for row in Battery.objects.bulk_create(batch))
    modules = PACKS * MODULES_PER_PACK
    for start in range(0, modules, 10_000):
        batch = []
        for index in range(start, min(start + 10_000, modules)):
            parent = pack_ids[0] if index < HEAVY_PACK_MODULES else pack_ids[index // MODULES_PER_PACK]
            batch.append(battery("M", index + 1, module_model, parent))
        Battery.objects.bulk_create(batch)
    elapsed = time.perf_counter() - started
    total = Battery.objects.count()
    print(
        f"  seeded {total:,} batteries in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s through bulk_create)"
    )
    seed_history(oem, recycler, user)
    return _fixtures()


def _fixtures() -> dict[str, object]:
    from accounts.models import User

    return {
        "user": User.objects.get(username="bench-oem"),
        "heavy_pack": _code("P", 1),
        "light_pack": _code("P", PACKS),
        "module": _code("M", PACKS * MODULES_PER_PACK),
    }


def _seeded() -> bool:
    """Whether the scratch database holds a complete seed (its last step writes the snapshot summaries)."""
    import psycopg

    try:
        with psycopg.connect(f"{SERVER_URL}/{DATABASE}") as existing:
            row = existing.execute("SELECT count(*) FROM passport_batterysnapshotsummary").fetchone()
    except psycopg.Error:
        return False
    return row[0] == PACKS * (MODULES_PER_PACK + 1)


T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def seed_history(oem: Any, recycler: Any, user: Any) -> None:
    """EVENTS_PER_BATTERY custody events and SNAPSHOTS_PER_BATTERY BMS snapshots for every battery.

    Events are real hash-chained bodies written with COPY (bench/seeding.py) at a
    licensed recycler site, then sequenced into the transparency log under a signed checkpoint, so every
    verdict reason has its evidence. Snapshots are written with COPY with their per-battery summary and a
    registered device key: the page reads their metadata (key validity at capture) and the summary, never
    the sealed payload, so payload, signature and wrapped key are placeholders here (bench/snapshot_core.py
    measures the signing and sealing path).
    """
    from datetime import date

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.db import connection

    from bench.seeding import copy_event_chains, licensed_site
    from custody.transparency.services import publish_checkpoint, sequence_pending
    from passport.models import Battery
    from passport.services.device_keys import register_device_key

    site = licensed_site(oem, recycler, since=date(2026, 1, 1))
    public_pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = register_device_key(
        organisation=oem, by=user, public_key=public_pem, purpose="bms_device",
        valid_from=T0 - timedelta(days=1),
    )  # fmt: skip
    ids = list(Battery.objects.order_by("pk").values_list("pk", "code"))

    started = time.perf_counter()
    events = copy_event_chains(
        ids, site, events_per_battery=EVENTS_PER_BATTERY, start=T0, stagger=timedelta(seconds=1)
    )
    events_s = time.perf_counter() - started
    started = time.perf_counter()
    sequence_pending(max_batch=20_000)
    publish_checkpoint()
    log_s = time.perf_counter() - started

    started = time.perf_counter()
    # Generated by PostgreSQL itself: the n-th battery's snapshots a day apart from T0 + n seconds + 2 h.
    numbered = "SELECT id, code, row_number() OVER (ORDER BY id) - 1 AS n FROM passport_battery"
    first = "%(t0)s::timestamptz + make_interval(secs => b.n) + interval '2 hours'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO passport_snapshot (
                battery_id, device_key_id, uploaded_by_id, device_id, sequence, captured_at, received_at,
                soc_pct, soh_pct, cycle_count, pack_voltage_v, cell_voltage_min_v, cell_voltage_max_v,
                cell_temp_min_c, cell_temp_max_c, insulation_resistance_kohm, alarms, soh_recalibrated,
                fault_count, faults, thermal_event_count, thermal_events, payload_hash, shape_hash,
                payload_size, signature_alg, signature_value, payload_cipher, payload_kek_id,
                payload_wrapped_key, payload_wrap_nonce, payload_nonce, payload_ciphertext, retention_until)
            SELECT b.id, %(key)s, %(oem)s, 'BENCH-TESTER-1', b.n * %(per)s + i, at.t, at.t,
                80 - i, 96 - i * 0.1, 400 + i, 320, 3.29, 3.31, 24, 27, 5000, '{{}}', false,
                0, '[]', 0, '[]', encode(sha256(convert_to(b.code || '|' || i, 'UTF8')), 'hex'),
                encode(sha256(convert_to(b.code || '|' || i, 'UTF8')), 'hex'),
                2048, 'ed25519', %(signature)s, 'AES-256-GCM', 'bench',
                decode(repeat('00', 40), 'hex'), decode(repeat('00', 12), 'hex'),
                decode(repeat('00', 12), 'hex'), decode(repeat('00', 64), 'hex'), at.t + interval '2928 days'
            FROM ({numbered}) b
            CROSS JOIN generate_series(0, %(per)s - 1) AS i
            CROSS JOIN LATERAL (SELECT {first} + make_interval(days => i) AS t) at
            """,
            {"key": key.pk, "oem": oem.pk, "per": SNAPSHOTS_PER_BATTERY, "t0": T0,
             "signature": base64.b64encode(bytes(64)).decode()},
        )  # fmt: skip
        snapshots = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO passport_batterysnapshotsummary (
                battery_id, snapshot_count, first_captured_at, last_captured_at, critical_flags,
                warning_flags, info_flags, thermal_event_count, certification_count, updated_at)
            SELECT b.id, %(per)s, {first}, {first} + make_interval(days => %(per)s - 1), 0, 0, 0, 0, 0, now()
            FROM ({numbered}) b
            """,
            {"per": SNAPSHOTS_PER_BATTERY, "t0": T0},
        )
    with connection.cursor() as cursor:
        # What autovacuum and the checkpointer would otherwise do during the measurements.
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    snapshots_s = time.perf_counter() - started
    print(
        f"  seeded {events:,} hash-chained custody events in {events_s:.1f} s, sequenced into the log "
        f"and checkpointed in {log_s:.1f} s; {snapshots:,} BMS snapshots with summaries in "
        f"{snapshots_s:.1f} s"
    )


# ---------------------------------------------------------------------------------------------------
# In-process measurements
# ---------------------------------------------------------------------------------------------------
def queries_per_page(fixtures: dict[str, object]) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from custody.events.models import CustodyEvent
    from passport import selectors

    anonymous = Client()
    member = Client()
    member.force_login(fixtures["user"])
    for label, code in (
        ("pack, 300 components", fixtures["heavy_pack"]),
        ("pack, 4 components", fixtures["light_pack"]),
        ("module, no components", fixtures["module"]),
    ):
        counts = []
        for client in (anonymous, member):
            client.get(f"/p/{code}")  # warm the rate-limit keys and the session
            selectors.forget_public_page(code)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"/p/{code}")
            assert response.status_code == 200, response.status_code
            counts.append(len(queries.captured_queries))
            if client is anonymous:
                with CaptureQueriesContext(connection) as shared:
                    anonymous.get(f"/p/{code}")
        print(
            f"  queries per /p/ page ({label}): anonymous {counts[0]} "
            f"(then {len(shared.captured_queries)} while its rendering is shared), as the OEM {counts[1]}"
        )
    # The same for custody histories of growing length (the chain is read in one query, whatever its size):
    # three modules get 0, 10 and 50 more events on top of the seeded ones.
    history = []
    for serial, events in ((PACKS * MODULES_PER_PACK - 1, 0), (PACKS * MODULES_PER_PACK - 2, 10),
                           (PACKS * MODULES_PER_PACK - 3, 50)):  # fmt: skip
        code = _code("M", serial)
        _append_history(code, events)
        events = CustodyEvent.objects.filter(battery__code=code).count()
        anonymous.get(f"/p/{code}")
        selectors.forget_public_page(code)
        with CaptureQueriesContext(connection) as queries:
            assert anonymous.get(f"/p/{code}").status_code == 200
        history.append(f"{events} events: {len(queries.captured_queries)}")
    print(f"  queries per anonymous /p/ page by custody history: {', '.join(history)}")


def _append_history(code: str, events: int) -> None:
    """`events` custody events at the head of a module's chain, written as custody's bulk path writes
    them (hash-chained, queued for the log)."""
    from datetime import timedelta

    from django.utils import timezone

    from custody.events.chain import Actor, build_event, chain_head, new_head, write_events
    from custody.events.models import EventType
    from passport.models import Battery

    battery = Battery.objects.get(code=code)
    actor = Actor(organisation=battery.oem, user=None)
    head, built = chain_head(battery), []
    start = timezone.now().replace(microsecond=0) - timedelta(days=events + 1)
    for number in range(events):
        event = build_event(
            subject=battery, type=EventType.GRADED, actor=actor, occurred_at=start + timedelta(days=number),
            head=head, data={"grade": "B", "method": "bench history", "number": number},
        )  # fmt: skip
        built.append(event)
        head = new_head(event)
    write_events(built)


def qr_rates(code: str) -> None:
    from django.core.cache import cache

    from passport import qr

    url = qr.passport_url(code)
    for fmt, render in (("SVG", qr.render_svg), ("PNG", qr.render_png)):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < 2.0:
            render(url + str(count % 50), code)
            count += 1
        print(f"  QR {fmt} rendered: {count / (time.perf_counter() - started):,.0f} images/s (one core)")
    cache.clear()
    qr.qr_for(code, "png")
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        qr.qr_for(code, "png")
        count += 1
    print(f"  QR PNG from the cache: {count / (time.perf_counter() - started):,.0f} images/s")


# ---------------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------------
def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/bench/minimal")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 30 s")


def _warm(port: int, paths: list[str]) -> None:
    """Request each path once, eight at a time: quickly, so that no page shared now expires (30 s)
    during the measured run that follows."""
    from concurrent.futures import ThreadPoolExecutor

    def fetch(path: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"{path}: status {response.status}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fetch, sorted(set(paths))))


WRK_THREADS = 2


def _wrk(
    port: int,
    paths: list[str],
    workdir: Path,
    duration: int,
    rate: float | None = None,
    distinct: bool = False,
) -> Run:
    """Latencies and throughput: as fast as the server answers, or at about `rate` requests/s in all
    (each connection waits an exponentially distributed pause between its requests). Paths are asked
    for at random, or with `distinct` each in turn (the two wrk threads taking every other one), none
    twice while the list lasts."""
    paths_file = workdir / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    script = workdir / "paths.lua"
    pacing, connections = "", CONNECTIONS
    if rate is not None:
        connections = PACED_CONNECTIONS
        mean_pause_ms = connections * 1000.0 / rate
        pacing = f"delay = function() return -math.log(1 - math.random()) * {mean_pause_ms:.3f} end\n"
    if distinct:
        choose = (
            "local threads, sent = 0, 0\n"
            'setup = function(thread) thread:set("offset", threads); threads = threads + 1 end\n'
            "request = function()\n"
            f"  local index = (sent * {WRK_THREADS} + offset) % #paths + 1\n"
            "  sent = sent + 1\n"
            '  return wrk.format("GET", paths[index])\n'
            "end\n"
        )
    else:
        choose = 'request = function() return wrk.format("GET", paths[math.random(#paths)]) end\n'
    script.write_text(
        f'local paths = {{}}\nfor line in io.lines("{paths_file}") do paths[#paths + 1] = line end\n'
        + choose
        + pacing
    )
    output = subprocess.run(
        [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw error responses:\n{output}")

    def percentile(name: str) -> float:
        value, unit = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return Run(percentile("50"), percentile("99"), rate, requests)


def _python_load(port: int, paths: list[str], duration: int, distinct: bool = False) -> Run:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration
    turn = itertools.count()  # with `distinct`, each path in turn (next() on a count is atomic)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            path = paths[next(turn) % len(paths)] if distinct else rng.choice(paths)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return Run(quantiles[49], quantiles[98], len(latencies) / elapsed, len(latencies))


@dataclass
class Run:
    p50_ms: float
    p99_ms: float
    rate: float
    requests: int
    cpu_ms: float | None = None  # server CPU time (gunicorn, PostgreSQL, Redis) per request
    spread: tuple[float, float] | None = None  # lowest and highest requests/s of the repeated runs
    repeated: int = 0  # first views only: requests beyond the slice, which asked for a page again

    def line(self, label: str) -> str:
        cpu = f"{self.cpu_ms:6.2f} ms" if self.cpu_ms is not None else "     -"
        spread = f" ({self.spread[0]:,.0f}–{self.spread[1]:,.0f})" if self.spread and REPEATS > 1 else ""
        repeated = f"   ({self.repeated:,} asked again: raise FIRST_VIEW_CODES)" if self.repeated else ""
        return (
            f"  {label:<31} p50 {self.p50_ms:6.2f} ms   p99 {self.p99_ms:6.2f} ms   {self.rate:8,.0f} req/s"
            f"{spread}   server CPU/request {cpu}{repeated}"
        )


class FirstViews:
    """Public pages of batteries nobody has asked for in this run of the bench, in slices of a shuffled
    list (packs and modules as the registry holds them). Pages an earlier run with BENCH_REUSE=1 asked for
    have long left the shared rendering (kept 30 s)."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.used = 0

    def take(self, count: int) -> list[str]:
        start, self.used = self.used, self.used + count
        if self.used > len(self.codes):
            raise RuntimeError(f"only {len(self.codes):,} batteries for first views; lower FIRST_VIEW_CODES")
        return [f"/p/{code}" for code in self.codes[start : self.used]]


SERVER_PROCESSES = {"gunicorn", "postgres", "redis-server"}


def _server_cpu_seconds() -> float | None:
    """CPU time (user + system) used so far by every gunicorn, PostgreSQL and Redis process (Linux)."""
    if not Path("/proc/self/stat").exists():
        return None
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        if text[text.index("(") + 1 : text.rindex(")")] in SERVER_PROCESSES:
            fields = text[text.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def load(port: int, requests: Any, workdir: Path, rate: float | None = None, prepare: Any = None) -> Run:
    """REPEATS times a warm-up and a measured run (after `prepare()`, when given) of the paths
    `requests` lists, or of `FirstViews` (a fresh slice for each warm-up and each run, every path asked
    for once); the run with the median throughput, with the range of throughputs seen."""
    runs = []
    distinct = isinstance(requests, FirstViews)
    for _ in range(REPEATS):
        warmup = requests.take(WARMUP_CODES) if distinct else requests
        paths = requests.take(FIRST_VIEW_CODES) if distinct else requests
        if prepare is not None:
            prepare()
        if shutil.which("wrk"):
            _wrk(port, warmup, workdir, WARMUP_S, rate=rate, distinct=distinct)
            before = _server_cpu_seconds()
            run = _wrk(port, paths, workdir, DURATION_S, rate=rate, distinct=distinct)
        else:
            _python_load(port, warmup, WARMUP_S, distinct=distinct)
            before = _server_cpu_seconds()
            run = _python_load(port, paths, DURATION_S, distinct=distinct)
        after = _server_cpu_seconds()
        if before is not None and after is not None and run.requests:
            run.cpu_ms = (after - before) * 1000 / run.requests
        if distinct and run.requests > len(paths):
            run.repeated = run.requests - len(paths)
        runs.append(run)
    runs.sort(key=lambda run: run.rate)
    median = runs[len(runs) // 2]
    median.spread = (runs[0].rate, runs[-1].rate)
    return median


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="voltrace-bench-scan-"))
    (workdir / "voltrace_bench_scan_settings.py").write_text(SETTINGS_MODULE)
    (workdir / "voltrace_bench_scan_urls.py").write_text(URLS_MODULE)
    port = _free_port()
    env = _environment(workdir, port)
    os.environ.update(env)
    sys.path[:0] = [str(workdir), str(ROOT)]
    reused = REUSE and _seeded()
    if not reused:
        _admin(f"DROP DATABASE IF EXISTS {DATABASE}")
        _admin(f"CREATE DATABASE {DATABASE}")
    server: subprocess.Popen[bytes] | None = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        cache_kind = "Redis" if "REDIS_URL" in env else "files"
        print(f"== bench/scan.py: PostgreSQL {SERVER_URL}/{DATABASE}, cache {cache_kind}")
        call_command("migrate", verbosity=0)
        if reused:
            fixtures = _fixtures()
            print("  reusing the database seeded by an earlier run (BENCH_REUSE=1)")
        else:
            fixtures = seed()
        queries_per_page(fixtures)
        qr_rates(str(fixtures["light_pack"]))
        connections.close_all()

        rng = random.Random(7)
        packs = [_code("P", serial) for serial in range(1, PACKS + 1)]
        modules = [_code("M", serial) for serial in range(1, PACKS * MODULES_PER_PACK + 1)]
        rng.shuffle(packs)
        rng.shuffle(modules)
        # The template page and the popular pages read half packs, half modules; first views the rest.
        codes = packs[: SAMPLE_CODES // 2] + modules[: SAMPLE_CODES // 2]
        rest = packs[SAMPLE_CODES // 2 :] + modules[SAMPLE_CODES // 2 :]
        rng.shuffle(rest)
        first_views = FirstViews(rest)
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--workers", "2", "--worker-class",
             "gthread", "--threads", "4", "--bind", f"127.0.0.1:{port}", "--keep-alive", "30",
             "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, **env},
        )  # fmt: skip
        _wait_for(port, server)
        generator = "wrk" if shutil.which("wrk") else "Python threads"
        print(
            f"  load: {generator}, {CONNECTIONS} connections, {DURATION_S} s each, gunicorn 2 gthread "
            f"workers; the median of {REPEATS} runs (the range of requests/s in brackets)"
        )
        results: dict[str, Run] = {}
        loads = (
            ("minimal Django view", ["/bench/minimal"]),
            ("template page + 1 query", [f"/bench/one-query/{code}" for code in codes]),
            ("/p/{code}, first views", first_views),
            ("/p/{code}, 100 popular codes", [f"/p/{code}" for code in codes[:100]]),
        )
        for label, paths in loads:
            # Popular pages: each rendered once, then served from the shared rendering.
            warm = functools.partial(_warm, port, paths) if label.endswith("popular codes") else None
            results[label] = run = load(port, paths, workdir, prepare=warm)
            print(run.line(label))
        minimal = results["minimal Django view"]
        for label in ("/p/{code}, first views", "/p/{code}, 100 popular codes"):
            ratio = results[label].rate / minimal.rate
            by_cpu = ""
            if minimal.cpu_ms and results[label].cpu_ms:
                # What the throughput ratio tends to on a machine no other work shares.
                by_cpu = f"; by server CPU per request {minimal.cpu_ms / results[label].cpu_ms:.0%}"
            print(f"  {label}: {ratio:.0%} of the minimal view's throughput{by_cpu} (goal: at least 50%)")
        if shutil.which("wrk"):
            # Latency under saturation is the length of the queue the load generator keeps full; the
            # latency goal is read at the goal's throughput instead (half the minimal view's), and at a
            # quarter of it, which shows how much of the tail is the two cores the load generator shares.
            for share, name in ((0.5, "half"), (0.25, "a quarter")):
                target = minimal.rate * share
                print(
                    f"  latency at an offered load of {target:,.0f} req/s ({name} of the minimal view's "
                    f"maximum), {PACED_CONNECTIONS} connections:"
                )
                for label, paths in loads:
                    if results[label].rate < 0.9 * target:
                        # It would only saturate again, with more connections, and use up first views.
                        most = results[label].rate
                        print(f"  {label:<31} not offered this load: its maximum is {most:,.0f} req/s")
                        continue
                    warm = functools.partial(_warm, port, paths) if label.endswith("popular codes") else None
                    run = load(port, paths, workdir, rate=target, prepare=warm)
                    verdict = "met" if run.p99_ms < 10 and run.rate >= 0.9 * target else "not met"
                    print(f"{run.line(label)}   (p99 < 10 ms at this load: {verdict})")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not have started; the database is dropped regardless
            pass
        if not REUSE:
            _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
