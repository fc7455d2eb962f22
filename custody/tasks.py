"""Celery tasks of custody: thin interfaces over the services, taking JSON-safe ids."""

from __future__ import annotations

from celery import shared_task

from custody.services import audit, intake_import, transfers


# The import claims its job row with a conditional update, so a redelivered task does nothing.
@shared_task(name="custody.run_intake_import", acks_late=True)
def run_intake_import(*, import_id: int) -> None:
    intake_import.run_intake_import(import_id=import_id)


# Idempotent: each open offer is re-read under its subject's lock, so an offer expires once.
@shared_task(name="custody.expire_transfers", acks_late=True)
def expire_transfers() -> dict[str, int]:
    return transfers.run_transfer_expiry().counts


# Read-only apart from its JobRun and alerts (deduplicated per run): safe to repeat.
@shared_task(name="custody.self_audit", acks_late=True)
def self_audit() -> dict[str, object]:
    return dict(audit.run_self_audit().counts)
