"""Retention enforcement: crypto-shred the payloads of expired snapshots that no legal hold covers.

A snapshot expires at `retention_until` (captured_at + max(8, SNAPSHOT_RETENTION_YEARS) years, set at
ingest) and, should the setting have been raised since, not before captured_at + the current setting.
Shredding sets the ciphertext and the wrapped data key to NULL and records `shredded_at`; the metadata,
the payload hash and the signature stay, so hash chains and custody links still verify.

The job is set-based and reads only what is due: the partial index `snapshot_retention_due`
(retention_until, where not shredded) gives the expired rows in order, walked with a keyset cursor so
rows skipped for a hold are not read again; each batch is its own transaction (rows locked, skipping
rows another run holds), so the job is idempotent and safe to interrupt. Each shredded row gets an
append-only `SnapshotShred` record, and the run a `JobRun` with its counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.jobs import run_job
from core.models import JobRun
from passport.snapshots.ingest import add_years, retention_years
from passport.snapshots.models import Snapshot, SnapshotShred

JOB_NAME = "passport.enforce_retention"
DEFAULT_BATCH_SIZE = 2000


def _due(now: datetime) -> Any:
    """Unshredded snapshots whose retention is over at `now` and that no active legal hold covers."""
    return (
        Snapshot.objects.filter(
            shredded_at__isnull=True,
            retention_until__lte=now,
            captured_at__lte=add_years(now, -retention_years()),
        )
        .not_under_hold()
        .order_by("retention_until", "id")
    )


def shred_expired(*, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, int]:
    """Crypto-shred every expired, unheld payload, batch by batch; returns what was done."""
    moment = timezone.now()
    cursor: tuple[datetime, int] | None = None
    counts = {"shredded": 0, "batches": 0}
    while True:
        with transaction.atomic():
            due = _due(moment)
            if cursor is not None:
                due = due.filter(
                    Q(retention_until__gt=cursor[0]) | Q(retention_until=cursor[0], id__gt=cursor[1])
                )
            rows = list(
                due.select_for_update(skip_locked=True).values_list("id", "battery_id", "retention_until")[
                    :batch_size
                ]
            )
            if not rows:
                break
            ids = [row[0] for row in rows]
            shredded_at = timezone.now()
            # The queryset's own guard re-checks retention and holds before the UPDATE; the database
            # triggers check them again, row by row.
            updated = Snapshot.objects.filter(pk__in=ids, shredded_at__isnull=True).update(
                payload_ciphertext=None, payload_wrapped_key=None, shredded_at=shredded_at
            )
            SnapshotShred.objects.bulk_create(
                SnapshotShred(
                    snapshot_id=snapshot_id,
                    battery_id=battery_id,
                    retention_until=retention_until,
                    shredded_at=shredded_at,
                )
                for snapshot_id, battery_id, retention_until in rows
            )
        counts["shredded"] += updated
        counts["batches"] += 1
        cursor = (rows[-1][2], rows[-1][0])
    counts["held_expired"] = (
        Snapshot.objects.filter(shredded_at__isnull=True, retention_until__lte=moment).under_hold().count()
    )
    return counts


def enforce_retention(*, batch_size: int = DEFAULT_BATCH_SIZE) -> JobRun:
    """The daily retention job: shred what has expired, and leave a `JobRun` saying what it did."""
    return run_job(JOB_NAME, lambda: shred_expired(batch_size=batch_size))
