"""Ingest files of signed BMS snapshots (JSON, JSON Lines or zip) as an organisation's user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organisation, User
from core.errors import DomainError
from passport.snapshots import uploads


class Command(BaseCommand):
    help = "Ingest snapshot files through the same checks as the API; prints a per-item report of refusals."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--organisation", required=True, help="Name or id of the reporting organisation.")
        parser.add_argument("--user", required=True, help="Username of a member of that organisation.")
        parser.add_argument("--quiet", action="store_true", help="Print only the totals.")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = options["organisation"]
        organisation = (
            Organisation.objects.filter(pk=int(wanted)).first()
            if wanted.isdigit()
            else Organisation.objects.filter(name=wanted).first()
        )
        if organisation is None:
            raise CommandError(f"No organisation {wanted!r}.")
        user = User.objects.filter(username=options["user"]).first()
        if user is None or user.organisation != organisation:
            raise CommandError(f"{options['user']!r} is not a member of {organisation.name}.")
        totals = {"stored": 0, "refused": 0}
        for path in options["files"]:
            if not path.is_file():
                raise CommandError(f"{path} is not a file.")
            try:
                with path.open("rb") as handle:
                    report = uploads.ingest_file(
                        name=path.name, handle=handle, organisation=organisation, user=user
                    )
            except DomainError as error:
                raise CommandError(f"{path}: {error.message}") from None
            totals["stored"] += report.stored
            totals["refused"] += report.refused
            self.stdout.write(f"{path}: {report.stored} stored, {report.refused} refused")
            if not options["quiet"]:
                for refusal in report.refusals:
                    field = refusal["field"] or "-"
                    self.stdout.write(
                        f"  {refusal['source']}: {refusal['code']} {field} {refusal['message']}"
                    )
        self.stdout.write(
            self.style.SUCCESS(f"Done: {totals['stored']} stored, {totals['refused']} refused.")
        )
