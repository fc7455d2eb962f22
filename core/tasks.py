from __future__ import annotations

from celery import shared_task

from core import health
from core.jobs import run_job


@shared_task(name="core.record_worker_heartbeat", ignore_result=True)
def record_worker_heartbeat() -> None:
    health.record_worker_heartbeat()


@shared_task(name="core.ping", ignore_result=True)
def ping(*, value: int) -> None:
    """Record a JobRun carrying `value`: proves a broker-and-worker round trip end to end."""
    run_job("core.ping", lambda: {"value": value})
