"""Sequence pending hashes and publish a signed checkpoint of the transparency log now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from custody.transparency import services


class Command(BaseCommand):
    help = "Sequence pending event hashes and sign a checkpoint if the log grew (or always, with --force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Sign a checkpoint even if the log did not grow."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run = services.run_checkpoint_publication(force=options["force"])
        counts = run.counts
        verb = "Published" if counts["published"] else "No new checkpoint:"
        self.stdout.write(f"{verb} tree size {counts['tree_size']} ({counts['sequenced']} leaves sequenced).")
