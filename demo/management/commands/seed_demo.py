"""Create realistic demo data through the real services; running it twice changes nothing."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo.seed_accounts import DEMO_PASSWORD

# Each module has seed(say) and runs after the ones before it; later issues append their module.
SEEDERS = [
    "demo.seed_accounts",
    "demo.seed_licensing",
    "demo.seed_passport",
    "demo.seed_snapshots",
    "demo.seed_custody",
    "demo.seed_crossborder",
    "demo.seed_history",
    "demo.seed_compliance",
]


class Command(BaseCommand):
    help = "Create demo organisations, users, facilities, batteries and histories (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off (demo logins share a public password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError("seed_demo creates logins with a public password; it runs only with DEBUG on.")
        logins: list[tuple[str, str, str]] = []

        def say(line: str) -> None:
            self.stdout.write(f"  {line}")

        for module_name in SEEDERS:
            module = import_module(module_name)
            if getattr(module, "ATOMIC", True):
                with transaction.atomic():
                    result = module.seed(say)
            else:
                # The module writes through crossborder's gate, which commits its own log rows.
                result = module.seed(say)
            if module_name == "demo.seed_accounts":
                logins = result
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready. Every demo login uses the password {DEMO_PASSWORD!r}:")
        )
        for username, organisation, role in logins:
            self.stdout.write(f"  {username:<22} {role:<10} {organisation}")
