"""Celery tasks of the transparency log: thin, idempotent, calling one service each."""

from __future__ import annotations

from celery import shared_task

from custody.transparency import services


@shared_task(
    name="custody.sequence_log",
    acks_late=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def sequence_log() -> None:
    """Sequence committed pending hashes and publish a checkpoint when one is due (safe to repeat)."""
    services.sequence_log()


@shared_task(name="custody.publish_checkpoint", acks_late=True)
def publish_checkpoint(*, force: bool = False) -> None:
    """The periodic checkpoint publication, recorded as a JobRun (safe to repeat: no growth, no new one)."""
    services.run_checkpoint_publication(force=force)
