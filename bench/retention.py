"""The retention job on PostgreSQL over 1,000,000 snapshot rows: its time follows the expired rows.

Run from the repository root: `.venv/bin/python bench/retention.py` (PostgreSQL server from
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432). It creates the scratch database
`voltrace_bench_retention`, inserts 1,000,000 snapshot rows of 1,000 batteries directly with SQL (the
metadata and a small stand-in ciphertext: the job never reads either), with 0.1% of them past their
retention, and times `passport.snapshots.retention.enforce_retention` (which the daily Celery job runs):

1. with 0.1% expired (1,000 rows), 2. after adding 9,000 more expired rows (1%, 10,000 rows), 3. again
with nothing left to shred, and 4. with 1% expired of which half under a legal hold. The table stays
at about a million rows throughout, so the times show the cost follows the rows due, not the table.
The database is dropped at the end.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DATABASE = "voltrace_bench_retention"
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
BATTERIES = 1000


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql)


def _environment(workdir: Path) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{SERVER_URL}/{DATABASE}",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "KEY_ENCRYPTION_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "LOG_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "PUBLIC_BASE_URL": "http://127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": str(workdir / "var"),
    }


def seed() -> dict[str, int]:
    """An OEM, 1,000 batteries and a device key, through the ORM; returns the ids the rows need."""
    from datetime import UTC, date, datetime

    from accounts.models import Membership, Organisation, User
    from core import signing
    from passport import services
    from passport.models import Battery, ManufacturerCode

    oem = Organisation.objects.create(name="Bench OEM", kind="oem", country="CN")
    user = User.objects.create_user("bench-oem", password=None)
    Membership.objects.create(user=user, organisation=oem, role="admin")
    ManufacturerCode.objects.create(code="BNC", oem=oem)
    Battery.objects.bulk_create(
        Battery(
            code=f"BNCPBA1BENCH01T2M{number:07d}",
            scheme="gbt34014",
            manufacturer_code="BNC",
            product_type="P",
            battery_type="B",
            spec_code="A1",
            traceability_code="BENCH01",
            serial=f"{number:07d}",
            production_date=date(2010, 1, 1),
            oem=oem,
            status="in_use",
            current_custodian=oem,
            origin="verified",
            registered_by=oem,
        )
        for number in range(1, BATTERIES + 1)
    )
    key = services.register_device_key(
        organisation=oem,
        by=user,
        public_key=signing.public_key_b64(signing.generate_private_key()),
        purpose="bms_device",
        valid_from=datetime(2010, 1, 1, tzinfo=UTC),
    )
    first = Battery.objects.order_by("pk").values_list("pk", flat=True).first()
    return {"oem": oem.pk, "key": key.pk, "first_battery": first, "user": user.pk}


INSERT = """
INSERT INTO passport_snapshot (
  battery_id, device_key_id, uploaded_by_id, device_id, sequence, captured_at, received_at, soc_pct, soh_pct,
  cycle_count, pack_voltage_v, cell_voltage_min_v, cell_voltage_max_v, cell_temp_min_c, cell_temp_max_c,
  insulation_resistance_kohm, alarms, soh_recalibrated, fault_count, faults, thermal_event_count,
  thermal_events, payload_hash, shape_hash, payload_size, signature_alg, signature_value, payload_cipher,
  payload_kek_id, payload_wrapped_key, payload_wrap_nonce, payload_nonce, payload_ciphertext, retention_until
)
SELECT
  %(first_battery)s + (i %% {batteries}), %(key)s, %(oem)s, 'BENCH-' || (i %% {batteries}), i,
  due - interval '8 years', due - interval '8 years', 60.0, 90.0, 100, 316.0, 3.28, 3.30, 21.0, 24.0, 5200,
  '{{}}'::jsonb, false, 0, '[]'::jsonb, 0, '[]'::jsonb, md5(%(tag)s || i::text) || md5(i::text || %(tag)s),
  md5(i::text), 4000, 'Ed25519', 'c2ln', 'AES-256-GCM', 'bench', '\\x00'::bytea, '\\x00'::bytea,
  '\\x00'::bytea, '\\x00'::bytea, due
FROM (
  SELECT i, CASE WHEN i %% %(every)s = 0 THEN now() - interval '1 day' - (i %% 97) * interval '1 minute'
                 ELSE now() + interval '1 year' + (i %% 997) * interval '1 day' END AS due
  FROM generate_series(%(start)s, %(stop)s) AS i
) AS numbered
"""


def insert_rows(ids: dict[str, int], *, start: int, stop: int, every: int, tag: str) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT.format(batteries=BATTERIES),
            {**ids, "start": start, "stop": stop, "every": every, "tag": tag},
        )
        cursor.execute("ANALYZE passport_snapshot")
    return time.perf_counter() - started


def run_job(label: str) -> dict[str, int]:
    from passport.snapshots.models import Snapshot
    from passport.snapshots.retention import enforce_retention

    total = Snapshot.objects.count()
    started = time.perf_counter()
    run = enforce_retention()
    elapsed = time.perf_counter() - started
    shredded = run.counts["shredded"]
    rate = f"{shredded / elapsed:,.0f} rows/s" if shredded else "nothing due"
    print(
        f"  {label:<44} table {total:>9,} rows: shredded {shredded:>6,} "
        f"(held {run.counts['held_expired']:,}) in {elapsed * 1000:8.1f} ms  ({rate})"
    )
    return run.counts


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="voltrace-bench-retention-"))
    os.environ.update(_environment(workdir))
    sys.path[:0] = [str(ROOT)]
    _admin(f"DROP DATABASE IF EXISTS {DATABASE}")
    _admin(f"CREATE DATABASE {DATABASE}")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        print(f"== bench/retention.py: PostgreSQL {SERVER_URL}/{DATABASE}")
        call_command("migrate", verbosity=0)
        ids = seed()
        elapsed = insert_rows(ids, start=1, stop=ROWS, every=1000, tag="a")
        print(f"  inserted {ROWS:,} snapshot rows (0.1% expired) in {elapsed:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (COSTS OFF) SELECT id FROM passport_snapshot WHERE shredded_at IS NULL "
                "AND retention_until <= now() ORDER BY retention_until, id LIMIT 2000"
            )
            plan = [line.strip() for (line,) in cursor.fetchall()]
        print("  plan of the due-rows scan: " + " / ".join(plan))
        run_job("0.1% expired (1,000 rows due)")
        extra = ROWS // 100 - ROWS // 1000
        insert_rows(ids, start=ROWS + 1, stop=ROWS + extra, every=1, tag="b")
        run_job(f"1% expired ({extra:,} more rows due)")
        run_job("again: nothing left to shred")
        insert_rows(ids, start=ROWS + extra + 1, stop=ROWS + 2 * extra, every=1, tag="c")
        from passport.models import Battery
        from passport.snapshots.models import LegalHold, LegalHoldEvent

        # A battery-wide hold on half of the batteries: their expired rows are skipped, and not re-read.
        for battery in Battery.objects.order_by("pk")[: BATTERIES // 2]:
            hold = LegalHold.objects.create(
                battery=battery, reason="bench", placed_by_id=ids["oem"], placed_by_user_id=ids["user"]
            )
            LegalHoldEvent.objects.create(
                hold=hold, action="placed", reason="bench", organisation_id=ids["oem"], actor_id=ids["user"]
            )
        run_job(f"1% expired again ({extra:,} due), half held")
        connection.close()
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not have started; the database is dropped regardless
            pass
        _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
