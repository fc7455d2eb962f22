"""Reachability of the services Voltrace depends on, for /healthz."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

HEARTBEAT_KEY = "core:worker-heartbeat"


def record_worker_heartbeat() -> None:
    """Note that a worker is alive (called by the worker at start and by a periodic task)."""
    cache.set(HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)


def database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means unreachable
        return False, type(exc).__name__
    return True, connection.vendor


def broker_ok() -> tuple[bool, str]:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # any transport error means unreachable
        return False, type(exc).__name__
    return True, app.conf.broker_url.split("://", 1)[0]


def worker_ok() -> tuple[bool, str]:
    seen = cache.get(HEARTBEAT_KEY)
    if not seen:
        return False, "no heartbeat yet"
    age = timezone.now() - datetime.fromisoformat(seen)
    if age > settings.WORKER_HEARTBEAT_MAX_AGE:
        return False, f"last heartbeat {int(age.total_seconds())}s ago"
    return True, f"last heartbeat {int(age.total_seconds())}s ago"
