"""A worker announces itself when it starts, so /healthz sees it before the first periodic beat."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready

from core import health


@worker_ready.connect
def _announce_worker(**kwargs: Any) -> None:
    health.record_worker_heartbeat()
