"""Recompute every custody chain and the transparency log now and compare them with the signed checkpoints."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from custody.services import run_self_audit


class Command(BaseCommand):
    help = (
        "Run the integrity self-audit (the nightly job custody.self_audit); exits non-zero on any mismatch."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        run = run_self_audit()
        counts = run.counts
        summary = (
            f"{counts['events']} events in {counts['chains']} chains, {counts['leaves']} leaves, "
            f"{counts['checkpoints']} checkpoints"
        )
        if run.error:
            raise CommandError(f"{counts['mismatches']} mismatch(es) in {summary}. First: {run.error}")
        self.stdout.write(f"Intact: {summary}.")
