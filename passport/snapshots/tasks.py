"""Celery tasks for snapshots: thin interfaces over the services, taking JSON-safe ids."""

from __future__ import annotations

from celery import shared_task

from passport.snapshots import retention, uploads


# The upload is claimed with a conditional update, so a redelivered task does nothing.
@shared_task(name="passport.run_snapshot_upload", acks_late=True)
def run_snapshot_upload(*, upload_id: int) -> None:
    uploads.run_snapshot_upload(upload_id=upload_id)


# Idempotent: a second run finds nothing left to shred (rows are locked batch by batch).
@shared_task(name="passport.enforce_retention", acks_late=True)
def enforce_retention() -> dict[str, int]:
    return retention.enforce_retention().counts
