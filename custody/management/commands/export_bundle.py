"""Write a verification bundle (voltrace.custody-bundle/1) of batteries' or lots' custody chains to a file."""

from __future__ import annotations

import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import DomainError
from custody import bundle
from custody.events.models import BundleExport
from custody.lots.models import MaterialLot
from passport import codes
from passport.models import Battery


class Command(BaseCommand):
    help = (
        "Export a verification bundle that `python -m custody.verify` checks offline. Snapshot payloads are "
        "included only with --as naming an auditor or regulator of the battery's jurisdiction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--battery", action="append", default=[], metavar="CODE", help="A battery (repeatable)."
        )
        parser.add_argument(
            "--lot", action="append", default=[], metavar="CODE", help="A material lot (repeatable)."
        )
        parser.add_argument(
            "--no-trace",
            action="store_true",
            help="Only the named subjects' chains, not the units and lots they came from.",
        )
        parser.add_argument(
            "--as", dest="username", help="Read as this user (decides the snapshot payloads)."
        )
        parser.add_argument(
            "-o", "--output", required=True, help="The file to write ('-' for standard output)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batteries = []
        for code in options["battery"]:
            battery = Battery.objects.filter(code=codes.normalise(code)).first()
            if battery is None:
                raise CommandError(f"No battery is registered under {code}.")
            batteries.append(battery)
        lots = []
        for code in options["lot"]:
            lot = MaterialLot.objects.filter(code=code.strip().upper()).first()
            if lot is None:
                raise CommandError(f"No material lot has the code {code}.")
            lots.append(lot)
        if not batteries and not lots:
            raise CommandError("Name at least one --battery or --lot.")
        reader = None
        if options["username"]:
            reader = get_user_model().objects.filter(username=options["username"]).first()
            if reader is None:
                raise CommandError(f"No user {options['username']}.")
        scope = bundle.BundleScope(batteries=batteries, lots=lots, trace=not options["no_trace"])
        try:
            prepared = bundle.prepare_bundle(scope)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        bundle.log_export(scope=scope, user=reader, channel=BundleExport.Channel.COMMAND)
        chunks = bundle.iter_bundle(prepared, reader=reader)
        if options["output"] == "-":
            bundle.write_bundle(chunks, sys.stdout)
            return
        with open(options["output"], "w", encoding="utf-8") as out:
            bundle.write_bundle(chunks, out)
        self.stderr.write(
            f"Wrote {prepared.event_count} events, checkpoint of size {prepared.checkpoint.tree_size}, "
            f"to {options['output']}."
        )
