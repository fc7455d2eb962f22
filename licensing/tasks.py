"""Celery entry points for licensing: thin wrappers over the services."""

from __future__ import annotations

from celery import shared_task
from django.utils.dateparse import parse_datetime

from licensing import services


@shared_task(name="licensing.run_expiry_job", acks_late=True, ignore_result=True)
def run_expiry_job(*, now: str | None = None) -> int:
    """Daily: record lapsed licences and send the 90/30/7-day warnings (safe to run twice)."""
    moment = parse_datetime(now) if now else None
    return services.run_expiry_job(now=moment).pk
