"""Run the licence expiry job by hand (the same job beat runs daily)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from licensing import services


class Command(BaseCommand):
    help = "Record expired licences and send the 90/30/7-day expiry warnings (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--now",
            help="Run as if it were this instant (ISO 8601 with offset, e.g. 2026-07-01T00:05:00+08:00).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["now"]:
            try:
                now = parse_datetime(options["now"])
            except ValueError:
                now = None
            if now is None or now.tzinfo is None:
                raise CommandError("--now must be an ISO 8601 date-time with an offset.")
        run = services.run_expiry_job(now=now)
        counts = ", ".join(f"{name}={value}" for name, value in run.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Licence expiry job {run.status}: {counts}"))
