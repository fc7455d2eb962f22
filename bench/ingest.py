"""BMS snapshot ingest on PostgreSQL: the per-core limit, single-envelope requests/s, batch snapshots/s.

Run from the repository root: `.venv/bin/python bench/ingest.py` (PostgreSQL server from
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432). It creates the scratch database
`voltrace_bench_ingest`, registers an OEM with 500 LFP packs (96S2P) and one Ed25519 device key,
pre-signs realistic 4 KB envelopes (tests/snapshot_builders.py: 96 cell voltages, 14 faults, 3
thermal events, a vehicle block), starts gunicorn (3 sync workers: one more than
cores, so that one computes while another waits on the database) on a loopback port, and prints in one run:

1. the raw per-core limit: strict parse + schema + RFC 8785 canonicalisation + SHA-256 + signature
   verification + AES-256-GCM sealing in a loop, with each step's own rate beside it;
2. single-envelope API requests/s (POST /api/v1/snapshots/, two client threads);
3. batch API snapshots/s (lists of 1,000, four uploaders at once, each with its own 125 batteries,
   so each battery's history grows by 8 snapshots per batch and is re-evaluated whole every time).
   Goal: >= 1,000/s.

The database is dropped at the end. Requests are bounded in number; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DATABASE = "voltrace_bench_ingest"
BATTERIES = 500
BATCH = 1000
UPLOADERS = 4
BATCHES_PER_UPLOADER = int(os.environ.get("BENCH_BATCHES", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "3"))
SINGLES = BATTERIES  # one first snapshot per battery
RAW_COUNT = 500
START = datetime(2025, 1, 6, tzinfo=UTC)
# 14 faults and 3 thermal events make the 4.3 KB envelope of bench/snapshot_core.py and PERFORMANCE.md.
FAULTS = int(os.environ.get("BENCH_FAULTS", "14"))
THERMAL_EVENTS = int(os.environ.get("BENCH_THERMAL_EVENTS", "3"))


# Only the passport API is served: the benchmark does not depend on what other apps route.
SETTINGS_MODULE = """
from config.settings import *  # noqa: F403

ROOT_URLCONF = "voltrace_bench_ingest_urls"
"""
URLS_MODULE = """
from django.http import HttpResponse
from django.urls import include, path


def ready(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/ready", ready), path("api/v1/", include("passport.api.urls"))]
"""


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(workdir: Path, port: int) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "voltrace_bench_ingest_settings",
        "PYTHONPATH": f"{workdir}{os.pathsep}{ROOT}",
        "DATABASE_URL": f"{SERVER_URL}/{DATABASE}",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "KEY_ENCRYPTION_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "LOG_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "CONN_MAX_AGE": "600",
        "THROTTLE_USER": "100000000/minute",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": str(workdir / "var"),
    }


def _code(number: int) -> str:
    return f"BNCPBA1BENCH01T2M{number:07d}"


def seed() -> tuple[str, list[str]]:
    """An OEM, its API token, 500 packs and device key 1 of the builders; returns (token, codes)."""
    from datetime import date

    from rest_framework.authtoken.models import Token

    from accounts.models import Membership, Organisation, User
    from core import signing
    from passport import services
    from passport.models import Battery, BatteryModel, ManufacturerCode
    from tests.snapshot_builders import device_key

    oem = Organisation.objects.create(name="Bench OEM", kind="oem", country="CN")
    user = User.objects.create_user("bench-oem", password=None)
    Membership.objects.create(user=user, organisation=oem, role="admin")
    ManufacturerCode.objects.create(code="BNC", oem=oem)
    model = BatteryModel.objects.create(
        oem=oem, name="BENCH-LFP-96S2P", chemistry="lfp", product_type="P", rated_capacity_ah="200",
        nominal_voltage_v="307.2", rated_energy_kwh="61.4", mass_kg="410", cell_count=192,
        configuration="96S2P", cell_voltage_min_v="2.5", cell_voltage_max_v="3.65",
    )  # fmt: skip
    codes = [_code(number) for number in range(1, BATTERIES + 1)]
    Battery.objects.bulk_create(
        Battery(
            code=code,
            scheme="gbt34014",
            manufacturer_code="BNC",
            product_type="P",
            battery_type="B",
            spec_code="A1",
            traceability_code="BENCH01",
            serial=code[-7:],
            production_date=date(2024, 6, 1),
            oem=oem,
            battery_model=model,
            status="in_use",
            current_custodian=oem,
            origin="verified",
            registered_by=oem,
        )
        for code in codes
    )
    services.register_device_key(
        organisation=oem,
        by=user,
        public_key=signing.public_key_pem(device_key(1)),
        purpose="bms_device",
        valid_from=datetime(2024, 1, 1, tzinfo=UTC),
    )
    return Token.objects.create(user=user).key, codes


def envelope_for(code: str, number: int, step: int) -> dict:
    """The `step`-th weekly snapshot of battery `number`: a plausible, slowly ageing history."""
    from tests.snapshot_builders import lfp_payload, sign_envelope

    payload = lfp_payload(
        battery_code=code,
        device_id=f"BMS-{number:05d}",
        captured_at=START + timedelta(days=7 * step, minutes=number),
        sequence=step + 1,
        soc_pct=round(40 + (number * 7 + step * 13) % 50, 1),
        soh_pct=round(97.0 - 0.05 * step, 2),
        cycle_count=20 + 9 * step,
        seed=number * 1000 + step,
        faults=FAULTS,
        thermal_events=THERMAL_EVENTS,
    )
    return sign_envelope(payload)


def build_batches(codes: list[str], uploader: int, batches: int, first_step: int) -> list[bytes]:
    """Lists of 1,000: 8 consecutive weekly snapshots of each of this uploader's 125 batteries."""
    mine = list(enumerate(codes))[uploader::UPLOADERS]
    per_battery = BATCH // len(mine)
    bodies = []
    for batch in range(batches):
        envelopes = [
            envelope_for(code, number, first_step + batch * per_battery + step)
            for number, code in mine
            for step in range(per_battery)
        ]
        bodies.append(json.dumps(envelopes, ensure_ascii=False).encode())
    return bodies


# ---------------------------------------------------------------------------------------------------
# 1. The per-core limit
# ---------------------------------------------------------------------------------------------------
def raw_limit(raw_envelopes: list[bytes]) -> None:
    from core import signing
    from core.canonical import canonicalize, parse_json_strict, sha256_hex
    from core.envelope import seal
    from passport.snapshots.models import snapshot_aad
    from passport.snapshots.schema import validate_envelope
    from tests.snapshot_builders import device_key

    public_key = signing.load_public_key(signing.public_key_pem(device_key(1)))
    documents = [parse_json_strict(raw, max_bytes=1 << 20, max_depth=8) for raw in raw_envelopes]
    envelopes = [validate_envelope(document) for document in documents]
    canonicals = [canonicalize(envelope.payload) for envelope in envelopes]

    def rate(work, items) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            for item in items:
                work(item)
            runs.append(len(items) / (time.perf_counter() - started))
        return statistics.median(runs)

    def whole(raw: bytes) -> None:
        envelope = validate_envelope(parse_json_strict(raw, max_bytes=1 << 20, max_depth=8))
        canonical = canonicalize(envelope.payload)
        digest = sha256_hex(canonical)
        if not signing.verify_signature(public_key, canonical, envelope.signature.value_bytes, alg="Ed25519"):
            raise AssertionError("signature")
        seal(canonical, aad=snapshot_aad(digest))

    def parse(raw: bytes) -> object:
        return validate_envelope(parse_json_strict(raw, max_bytes=1 << 20, max_depth=8))

    def verify(pair: tuple) -> bool:
        return signing.verify_signature(public_key, pair[1], pair[0].signature.value_bytes, alg="Ed25519")

    size = statistics.mean(len(raw) for raw in raw_envelopes)
    print(
        f"  envelope: {size:,.0f} bytes on average (96 cells, {FAULTS} faults, {THERMAL_EVENTS} thermal "
        "events, vehicle block)"
    )
    pairs = list(zip(envelopes, canonicals, strict=True))
    steps = (
        ("raw per-core limit (parse + schema + canonicalise + hash + verify + seal)", whole, raw_envelopes),
        ("  strict parse + schema", parse, raw_envelopes),
        ("  RFC 8785 canonicalisation", lambda envelope: canonicalize(envelope.payload), envelopes),
        (f"  Ed25519 verify ({signing.ed25519_backend()})", verify, pairs),
        ("  AES-256-GCM seal", lambda canonical: seal(canonical, aad=b"x"), canonicals),
    )
    for label, work, items in steps:
        print(f"  {label:<76} {rate(work, items):8,.0f} /s")


# ---------------------------------------------------------------------------------------------------
# 2 and 3. Over HTTP
# ---------------------------------------------------------------------------------------------------
def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/bench/ready")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 30 s")


def _post(connection: http.client.HTTPConnection, token: str, body: bytes) -> tuple[int, dict]:
    connection.request(
        "POST",
        "/api/v1/snapshots/",
        body=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def run_clients(port: int, token: str, work: list[list[bytes]]) -> tuple[float, list[dict]]:
    """Each inner list is one client thread's requests, sent in order; returns elapsed seconds and bodies."""
    bodies: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(requests: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for body in requests:
            status, answer = _post(connection, token, body)
            with lock:
                bodies.append(answer)
                if status not in (200, 201):
                    errors.append(f"{status} {str(answer)[:300]}")

    threads = [threading.Thread(target=client, args=(requests,)) for requests in work]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return elapsed, bodies


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="voltrace-bench-ingest-"))
    (workdir / "voltrace_bench_ingest_settings.py").write_text(SETTINGS_MODULE)
    (workdir / "voltrace_bench_ingest_urls.py").write_text(URLS_MODULE)
    port = _free_port()
    env = _environment(workdir, port)
    os.environ.update(env)
    sys.path[:0] = [str(workdir), str(ROOT)]
    _admin(f"DROP DATABASE IF EXISTS {DATABASE}")
    _admin(f"CREATE DATABASE {DATABASE}")
    server: subprocess.Popen[bytes] | None = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        print(f"== bench/ingest.py: PostgreSQL {SERVER_URL}/{DATABASE}, 2 cores")
        call_command("migrate", verbosity=0)
        token, codes = seed()
        started = time.perf_counter()
        per_battery = BATCH // (BATTERIES // UPLOADERS)
        singles = [
            json.dumps(envelope_for(code, number, 0), ensure_ascii=False).encode()
            for number, code in list(enumerate(codes))[:SINGLES]
        ]
        batches = [
            build_batches(codes, uploader, BATCHES_PER_UPLOADER, first_step=1)
            for uploader in range(UPLOADERS)
        ]
        signed = len(singles) + UPLOADERS * BATCHES_PER_UPLOADER * BATCH
        print(f"  pre-signed {signed:,} envelopes in {time.perf_counter() - started:.1f} s")
        raw_limit(singles[:RAW_COUNT])
        connections.close_all()

        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--workers", str(WORKERS),
             "--bind", f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, **env},
        )  # fmt: skip
        _wait_for(port, server)

        halves = [singles[0::2], singles[1::2]]
        elapsed, bodies = run_clients(port, token, halves)
        stored = sum(1 for body in bodies if body.get("status") == "stored")
        print(
            f"  single-envelope API: {len(singles):,} requests in {elapsed:.1f} s = "
            f"{len(singles) / elapsed:,.0f} requests/s ({stored:,} stored; gunicorn {WORKERS} sync workers, "
            "2 client threads)"
        )

        elapsed, bodies = run_clients(port, token, batches)
        stored = sum(body["stored"] for body in bodies)
        refused = sum(body["refused"] for body in bodies)
        rate = stored / elapsed
        histories = BATCHES_PER_UPLOADER * per_battery + 1
        print(
            f"  batch API (lists of {BATCH:,}): {stored:,} stored, {refused} refused in {elapsed:.1f} s = "
            f"{rate:,.0f} snapshots/s (goal >= 1,000/s); each battery's history re-evaluated whole, "
            f"up to {histories} snapshots"
        )
        from passport.snapshots.models import Snapshot, SnapshotFlag

        print(
            f"  stored rows: {Snapshot.objects.count():,} snapshots, {SnapshotFlag.objects.count():,} flags"
        )
        connections.close_all()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not have started; the database is dropped regardless
            pass
        _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
