"""Expire the transfer offers whose deadline has passed (the periodic job custody.expire_transfers)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from custody.services import run_transfer_expiry


class Command(BaseCommand):
    help = "Expire unanswered transfer offers past their deadline; safe to run at any time."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = run_transfer_expiry().counts
        self.stdout.write(f"{counts['expired']} of {counts['due']} due offers expired.")
