"""Building a report: the file, written as it goes, then its signed manifest; all or nothing.

The format writes to `<name>.part` under MEDIA_ROOT/reports/<storage key>/ while a hashing wrapper
computes its SHA-256 and size; progress goes to the report row at most every percent (one UPDATE that
also notices a cancel). Only a complete, released file is renamed into place, described by a manifest
signed with the log key, and recorded with the report's success in one transaction. Any failure or a
cancel deletes the folder: a report is either succeeded with its files, or has none.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.errors import DomainError
from crossborder import scanner
from custody.bundle import iso
from custody.transparency.keys import sign_with_log_key
from reports.formats.base import ReportCancelled, ReportContext
from reports.formats.registry import FormatSpec, get_format
from reports.manifest import FORMAT as MANIFEST_FORMAT
from reports.models import Report, ReportFile

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
PROGRESS_SECONDS = 5.0  # a slow format still reports (and notices a cancel) this often


def ttl() -> timedelta:
    return timedelta(hours=int(getattr(settings, "REPORT_TTL_HOURS", 72)))


def report_folder(report: Report) -> Path:
    """Where a report's files live: an unguessable folder per report."""
    return Path(settings.MEDIA_ROOT) / "reports" / report.storage_key


def discard_files(report: Report) -> None:
    shutil.rmtree(report_folder(report), ignore_errors=True)


class HashingWriter(io.RawIOBase):
    """A binary file wrapper that hashes and counts what passes through it."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._raw.write(view)
        self.sha256.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._raw.flush()


class Progress:
    """`ReportContext.tick`: one UPDATE per percent (or few seconds) at most, which also finds a cancel."""

    def __init__(self, report: Report) -> None:
        self.report_id = report.pk
        self.total = max(report.total_count, 1)
        self.step = max(self.total // 100, 1)
        self.next_mark = self.step
        self.last_write = time.monotonic()
        self.updates = 0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if done < self.next_mark and now - self.last_write < PROGRESS_SECONDS:
            return
        self.next_mark = (done // self.step + 1) * self.step
        self.last_write = now
        self.updates += 1
        percent = min(99, done * 100 // self.total)
        still_wanted = Report.objects.filter(pk=self.report_id, cancel_requested=False).update(
            percent=percent, done_count=min(done, self.total)
        )
        if not still_wanted:
            raise ReportCancelled(_("The report was cancelled."))


def _moment(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def context_for(report: Report, *, tick: Any, generated_at: datetime) -> ReportContext:
    """The format's view of a report: resolved subjects, range, requester, options."""
    return ReportContext(
        battery_ids=list(report.subjects.get("battery_ids", [])),
        lot_ids=list(report.subjects.get("lot_ids", [])),
        date_from=_moment(report.scope.get("date_from")),
        date_to=_moment(report.scope.get("date_to")),
        user=report.requested_by,
        anonymised=report.anonymised,
        language=report.language,
        generated_at=generated_at,
        tick=tick,
    )


def main_file_name(report: Report, spec: FormatSpec) -> str:
    return f"voltrace-report-{report.pk}.{spec.extension}"


def manifest_body(
    report: Report, *, files: list[dict[str, Any]], generated_at: datetime, units: int
) -> dict[str, Any]:
    """What the manifest states. An anonymised report's manifest leaves out codes and the title."""
    scope = dict(report.scope)
    described: dict[str, Any] = {
        "id": report.pk,
        "format": report.format,
        "organisation": report.organisation.name,
        "requested_at": iso(report.created_at),
        "anonymised": report.anonymised,
        "language": report.language,
        "units": units,
    }
    if report.anonymised:
        scope.pop("battery_codes", None)
        scope.pop("lot_codes", None)
    else:
        described["title"] = report.title
    return {
        "format": MANIFEST_FORMAT,
        "report": described,
        "scope": scope,
        "generated_at": iso(generated_at),
        "files": files,
    }


def signed_manifest(body: dict[str, Any]) -> dict[str, Any]:
    """The body signed with the platform's log key (the key that signs the log's checkpoints)."""
    return sign_with_log_key(body)


def _release(report: Report, path: Path) -> None:
    """An anonymised file leaves only after the scanner found no identifier in it (fail closed); the
    release is logged once for each jurisdiction whose data the report holds."""
    jurisdictions = report.scope.get("jurisdictions") or [report.organisation.country]
    for country in jurisdictions:
        scanner.release(
            path=path,
            user=report.requested_by,
            recipient=report.organisation,
            data_jurisdiction=country,
            channel="anonymised_export",
            subject=f"report {report.pk} ({report.format})",
            purpose=report.purpose,
            data_classes=report.scope.get("data_classes") or ["public", "restricted"],
        )


def _write(
    report: Report, spec: FormatSpec, ctx: ReportContext, folder: Path
) -> tuple[Path, HashingWriter, int]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / main_file_name(report, spec)
    partial = path.with_name(path.name + ".part")
    with translation.override(report.language), partial.open("wb") as raw:
        out = HashingWriter(raw)
        units = spec.writer()(ctx, out)
        out.flush()
    os.replace(partial, path)
    return path, out, units


def _finish(report: Report, **fields: Any) -> None:
    Report.objects.filter(pk=report.pk).update(finished_at=timezone.now(), **fields)


def build_report(*, report_id: int) -> Report | None:
    """Build a queued report once (a second run does nothing): file, release, manifest, success."""
    claimed = Report.objects.filter(pk=report_id, status=Report.Status.PENDING).update(
        status=Report.Status.RUNNING, started_at=timezone.now(), percent=0
    )
    report = Report.objects.select_related("organisation", "requested_by").filter(pk=report_id).first()
    if claimed != 1 or report is None:
        return report
    folder = report_folder(report)
    try:
        requester = report.requested_by
        if requester is None or not requester.is_active:
            raise DomainError(_("The requester's account no longer exists."), code="REQUESTER_GONE")
        spec = get_format(report.format)
        if spec is None:
            raise DomainError(_("Unknown report format %(format)s.") % {"format": report.format})
        generated_at = timezone.now().replace(microsecond=0)
        progress = Progress(report)
        ctx = context_for(report, tick=progress, generated_at=generated_at)
        path, written, units = _write(report, spec, ctx, folder)
        if report.anonymised:
            _release(report, path)
        files = [
            {
                "name": path.name,
                "size": written.size,
                "sha256": written.sha256.hexdigest(),
                "content_type": spec.content_type,
            }
        ]
        manifest = signed_manifest(manifest_body(report, files=files, generated_at=generated_at, units=units))
        manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        (folder / MANIFEST_NAME).write_bytes(manifest_bytes)
        relative = f"reports/{report.storage_key}"
        with transaction.atomic():
            ReportFile.objects.create(
                report=report,
                kind=ReportFile.Kind.MAIN,
                path=f"{relative}/{path.name}",
                **{name: files[0][name] for name in ("name", "size", "sha256", "content_type")},
            )
            ReportFile.objects.create(
                report=report,
                kind=ReportFile.Kind.MANIFEST,
                name=MANIFEST_NAME,
                size=len(manifest_bytes),
                sha256=hashlib.sha256(manifest_bytes).hexdigest(),
                path=f"{relative}/{MANIFEST_NAME}",
                content_type="application/json",
            )
            now = timezone.now()
            # A cancel that arrived after the last progress step still wins: nothing is handed out.
            done = Report.objects.filter(pk=report.pk, cancel_requested=False).update(
                status=Report.Status.SUCCEEDED,
                percent=100,
                done_count=report.total_count,
                unit_count=units,
                manifest=manifest,
                finished_at=now,
                expires_at=now + ttl(),
            )
            if not done:
                raise ReportCancelled(_("The report was cancelled."))
    except ReportCancelled:
        discard_files(report)
        _finish(report, status=Report.Status.CANCELLED)
    except DomainError as error:
        discard_files(report)
        _finish(report, status=Report.Status.FAILED, error_code=error.code, error_message=str(error.message))
    except Exception as exc:
        discard_files(report)
        _finish(
            report,
            status=Report.Status.FAILED,
            error_code="REPORT_FAILED",
            error_message=_("The report could not be built (%(reason)s).") % {"reason": type(exc).__name__},
        )
        logger.exception("Report %s failed", report.pk)
        raise
    report.refresh_from_db()
    return report
