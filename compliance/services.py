"""Handing out a compliance report: built, then logged through the cross-border gate's export log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from compliance import report
from compliance.checklist import Checklist
from core.errors import InvalidInput
from crossborder import gate

FORMATS = {"json": "application/json", "pdf": "application/pdf"}
CHANNEL = "compliance_report"


@dataclass(frozen=True)
class ReportFile:
    """A built report: its bytes, media type and a file name saying what and when."""

    content: bytes
    content_type: str
    filename: str


def export_report(*, checklist: Checklist, user: Any, fmt: str) -> ReportFile:
    """Build the checklist's report as signed JSON or PDF and log the download (who, what, for whom).

    The report carries figures of the `restricted` class only (no telemetry, no personal data), so the
    gate records it without asking for an approval; it is logged all the same, as every export is.
    """
    if fmt not in FORMATS:
        raise InvalidInput(
            _("A compliance report is available as json or pdf, not %(format)s.") % {"format": fmt},
            code="UNKNOWN_FORMAT",
            field="format",
        )
    content = report.report_json(checklist) if fmt == "json" else report.report_pdf(checklist)
    subject = (
        f"facility:{checklist.facility.pk}"
        if checklist.facility is not None
        else f"organisation:{checklist.organisation.pk}"
    )
    gate.log_export(
        user=user,
        recipient=getattr(user, "organisation", None),
        data_classes=["restricted"],
        data_jurisdiction=checklist.organisation.country,
        channel=CHANNEL,
        subject=f"compliance report {subject} ({fmt})",
        purpose="Five-point compliance checklist report",
        holder=checklist.organisation,
    )
    stamp = f"{checklist.at:%Y%m%d-%H%M%S}"
    return ReportFile(
        content=content,
        content_type=FORMATS[fmt],
        filename=f"compliance-{subject.replace(':', '-')}-{stamp}.{fmt}",
    )
