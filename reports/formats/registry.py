"""The report formats: what writes each one, its file name and type, and which data classes it carries.

Writers are imported lazily, by dotted path, when a report is built: a heavy writer (WeasyPrint for
the PDF) costs nothing to a process that never builds one, and the registry can list a format whose
module a deployment lacks (it is then refused as unavailable instead of breaking start-up).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PUBLIC = "public"
RESTRICTED = "restricted"
TELEMETRY = "telemetry"
PERSONAL = "personal"

Writer = Callable[[Any, IO[bytes]], int]


@dataclass(frozen=True)
class FormatSpec:
    """One report format."""

    name: str
    writer_path: str  # "package.module:function"
    extension: str
    content_type: str
    label: str | Promise
    data_classes: tuple[str, ...]
    anonymisable: bool
    # Raw BMS payloads (telemetry, with the vehicle block: personal data) are included for the
    # batteries the requester reads at the authority tier.
    payloads_for_authority: bool = False

    @property
    def module(self) -> str:
        return self.writer_path.partition(":")[0]

    def is_available(self) -> bool:
        """Whether the writer's module is installed in this deployment."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False

    def writer(self) -> Writer:
        module, _colon, function = self.writer_path.partition(":")
        return getattr(importlib.import_module(module), function)

    def classes_for(self, *, includes_payloads: bool) -> list[str]:
        """The data classes a report in this format carries, as the cross-border gate is asked about."""
        classes = list(self.data_classes)
        if self.payloads_for_authority and includes_payloads:
            classes += [TELEMETRY, PERSONAL]
        return classes


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            name="pdf",
            writer_path="reports.formats.pdf:write_pdf",
            extension="pdf",
            content_type="application/pdf",
            label=_("PDF for people"),
            data_classes=(PUBLIC, RESTRICTED),
            anonymisable=True,
        ),
        FormatSpec(
            name="csv",
            writer_path="reports.formats.csv:write_csv",
            extension="csv",
            content_type="text/csv; charset=utf-8",
            label=_("CSV table of custody events"),
            data_classes=(PUBLIC, RESTRICTED),
            anonymisable=True,
        ),
        FormatSpec(
            name="bundle",
            writer_path="reports.formats.bundle:write_bundle",
            extension="json",
            content_type="application/json",
            label=_("Verification bundle (JSON, checked offline by custody.verify)"),
            data_classes=(PUBLIC, RESTRICTED),
            # Event hashes cover battery codes and exact times: a bundle cannot be anonymised and verify.
            anonymisable=False,
            payloads_for_authority=True,
        ),
        FormatSpec(
            name="epcis",
            writer_path="reports.formats.epcis:write_epcis",
            extension="jsonld",
            content_type="application/ld+json",
            label=_("GS1 EPCIS 2.0 (JSON-LD)"),
            data_classes=(PUBLIC, RESTRICTED),
            anonymisable=True,
        ),
    )
}


def get_format(name: str) -> FormatSpec | None:
    return FORMATS.get(name)


def format_choices() -> list[tuple[str, str | Promise]]:
    return [(spec.name, spec.label) for spec in FORMATS.values()]
