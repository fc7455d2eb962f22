"""Celery tasks: thin interfaces over report services, taking JSON-safe ids."""

from __future__ import annotations

from celery import shared_task

from reports import services


# The build claims its report with a conditional update, so a redelivered task does nothing.
@shared_task(name="reports.build_report", acks_late=True)
def build_report(*, report_id: int) -> None:
    services.build_report(report_id=report_id)


@shared_task(name="reports.expire_reports")
def expire_reports() -> None:
    services.run_report_expiry()
