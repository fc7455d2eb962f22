"""Handing out report files (authorised and logged) and expiring them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound
from core.jobs import run_job
from core.models import JobRun
from crossborder import gate
from crossborder.models import SENSITIVE_CLASSES
from reports.errors import ReportExpired, ReportNotReady
from reports.models import Report, ReportDownload, ReportFile
from reports.services.build import discard_files
from reports.services.requests import own_report

# A running report older than the task's hard time limit (plus a margin) lost its worker.
ABANDON_MARGIN = timedelta(minutes=10)


def open_download(
    *, report: Report, user: Any, name: str | None = None, channel: str, purpose: str = ""
) -> tuple[ReportFile, IO[bytes]]:
    """Open a file of a finished report for a member of the requesting organisation, logging the download."""
    own_report(report, user)
    now = timezone.now()
    if report.status == Report.Status.EXPIRED or (
        report.status == Report.Status.SUCCEEDED
        and report.expires_at is not None
        and report.expires_at <= now
    ):
        raise ReportExpired(
            _("The files of report %(id)s expired and were deleted; request the report again.")
            % {"id": report.pk}
        )
    if report.status != Report.Status.SUCCEEDED:
        raise ReportNotReady(
            _("Report %(id)s has no files: it is %(status)s.")
            % {"id": report.pk, "status": report.get_status_display()}
        )
    files = report.files.all()
    chosen = (
        next((file for file in files if file.name == name), None)
        if name
        else next((file for file in files if file.kind == ReportFile.Kind.MAIN), None)
    )
    if chosen is None:
        raise NotFound(
            _("Report %(id)s has no file %(name)s.") % {"id": report.pk, "name": name},
            code="FILE_NOT_FOUND",
            field="file",
        )
    _authorise_download(report=report, user=user, file=chosen, purpose=purpose)
    path = Path(settings.MEDIA_ROOT) / chosen.path
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ReportExpired(
            _("The files of report %(id)s are no longer stored; request the report again.")
            % {"id": report.pk}
        ) from None
    ReportDownload.objects.create(
        report=report,
        file=chosen,
        user=user,
        organisation=user.organisation,
        channel=channel,
        purpose=purpose.strip()[:300],
        at=now,
    )
    return chosen, handle


def _authorise_download(*, report: Report, user: Any, file: ReportFile, purpose: str) -> None:
    """Ask the cross-border gate again when the file carries telemetry or personal data abroad.

    The download is the transfer itself: an approval revoked or lapsed since the report was requested
    must stop it, and the refusal is logged like any other.
    """
    classes = list(report.scope.get("data_classes", []))
    if not SENSITIVE_CLASSES & set(classes):
        return
    recipient = user.organisation
    for country in report.scope.get("jurisdictions", []):
        if country == recipient.country:
            continue
        gate.authorise(
            user=user,
            recipient=recipient,
            data_classes=classes,
            data_jurisdiction=country,
            channel="report_download",
            subject=f"report {report.pk}, file {file.name}",
            purpose=purpose.strip() or report.purpose or _("Download of a requested report"),
        )


def expire_reports(*, now: datetime | None = None) -> dict[str, int]:
    """Delete the files of reports past their expiry (marking them expired) and clean up abandoned builds."""
    now = now or timezone.now()
    expired = 0
    due = Report.objects.filter(status=Report.Status.SUCCEEDED, expires_at__lte=now).only("pk", "storage_key")
    for report in due.iterator(chunk_size=500):
        # Marked first: a download racing the sweep is refused rather than served a half-deleted folder.
        if Report.objects.filter(pk=report.pk, status=Report.Status.SUCCEEDED).update(
            status=Report.Status.EXPIRED
        ):
            discard_files(report)
            expired += 1
    limit = timedelta(seconds=int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 1800))) + ABANDON_MARGIN
    abandoned = 0
    stale = Report.objects.filter(status=Report.Status.RUNNING, started_at__lt=now - limit).only(
        "pk", "storage_key"
    )
    for report in stale.iterator(chunk_size=500):
        if Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(
            status=Report.Status.FAILED,
            error_code="REPORT_ABANDONED",
            error_message=_("The worker building this report stopped before it finished."),
            finished_at=now,
        ):
            discard_files(report)
            abandoned += 1
    return {"expired": expired, "abandoned": abandoned}


def run_report_expiry() -> JobRun:
    """The periodic job: `expire_reports`, recorded as a JobRun."""
    return run_job("reports.expire_reports", expire_reports)
