"""Run the snapshot retention job by hand (the same job beat runs daily)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from passport.snapshots import retention


class Command(BaseCommand):
    help = "Crypto-shred the payloads of snapshots past retention and under no legal hold (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=retention.DEFAULT_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        run = retention.enforce_retention(batch_size=options["batch_size"])
        counts = ", ".join(f"{name}={value}" for name, value in run.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Retention job {run.status}: {counts}"))
