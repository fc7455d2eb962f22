"""Files of snapshots: JSON (one envelope or an array), JSON Lines, or a zip of such files.

The web upload stores the file and a Celery task ingests it in chunks of `SNAPSHOT_BATCH_MAX_ITEMS`
through `ingest.ingest_documents`, recording progress after each chunk (the page polls it with htmx)
and a per-item report of what was refused. `manage.py ingest_snapshots` reads the same formats.

Limits: the file itself (`SNAPSHOT_UPLOAD_MAX_BYTES`); one envelope (`MAX_ENVELOPE_BYTES`, so a line
of JSON Lines too); a JSON array is parsed whole, so it is limited to `MAX_JSON_ARRAY_BYTES` (use JSON
Lines above that); a zip's members are read one at a time, at most `MAX_ZIP_MEMBERS` of them and at
most `SNAPSHOT_UPLOAD_MAX_BYTES` uncompressed in total (a zip bomb is refused before it is inflated).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, User
from core.canonical import StrictJsonError, parse_json_strict
from core.errors import DomainError, InvalidInput, NotPermitted
from passport.snapshots import tasks
from passport.snapshots.ingest import ItemResult, chunked, ingest_documents, parse_item, split_array
from passport.snapshots.models import SnapshotUpload
from passport.snapshots.schema import (
    MAX_ENVELOPE_BYTES,
    MAX_ENVELOPE_DEPTH,
    SnapshotRejected,
    strict_json_rejection,
)

MAX_JSON_ARRAY_BYTES = 64 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_STORED_REFUSALS = 5000
MAX_LISTED_BATTERIES = 100
MEMBER_SUFFIXES = (".json", ".jsonl", ".ndjson")


class UploadError(InvalidInput):
    """A file that cannot be read as snapshots at all."""

    default_code = "UPLOAD_UNREADABLE"


@dataclass(frozen=True)
class FileItem:
    """One envelope read from a file: where it came from, and the parsed document or its refusal."""

    source: str
    document: Any


def _item(source: str, raw: bytes) -> FileItem:
    return FileItem(source, parse_item(raw))


def _json_items(name: str, raw: bytes) -> Iterator[FileItem]:
    stripped = raw.lstrip(b" \t\r\n\xef\xbb\xbf")
    if stripped[:1] == b"[":
        if len(raw) > MAX_JSON_ARRAY_BYTES:
            raise UploadError(
                _("%(name)s is a JSON array of %(size)d bytes; above %(limit)d MB send JSON Lines instead.")
                % {"name": name, "size": len(raw), "limit": MAX_JSON_ARRAY_BYTES // (1024 * 1024)},
                field="file",
            )
        try:
            documents = parse_json_strict(
                raw, max_bytes=MAX_JSON_ARRAY_BYTES, max_depth=MAX_ENVELOPE_DEPTH + 1
            )
        except StrictJsonError as error:
            pieces = split_array(raw)
            if pieces is None:
                rejection = strict_json_rejection(
                    error, max_bytes=MAX_JSON_ARRAY_BYTES, max_depth=MAX_ENVELOPE_DEPTH + 1, size=len(raw)
                )
                raise UploadError(
                    _("%(name)s: %(reason)s") % {"name": name, "reason": rejection.message}, field="file"
                ) from None
            for index, piece in enumerate(pieces):
                yield _item(f"{name}[{index}]", piece)
            return
        for index, document in enumerate(documents):
            yield FileItem(f"{name}[{index}]", document)
        return
    if _is_json_lines(stripped):
        yield from _lines(name, io.BytesIO(raw))
        return
    yield _item(name, raw)


def _is_json_lines(text: bytes) -> bool:
    """A file whose first line is a whole JSON object, followed by more lines, is JSON Lines."""
    first, _newline, rest = text.partition(b"\n")
    if not rest.strip():
        return False
    try:
        parse_json_strict(first, max_bytes=MAX_ENVELOPE_BYTES, max_depth=MAX_ENVELOPE_DEPTH)
    except StrictJsonError:
        return False
    return True


def _lines(name: str, handle: IO[bytes]) -> Iterator[FileItem]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if len(line) > MAX_ENVELOPE_BYTES + 2:
            yield FileItem(
                f"{name}:{number}",
                SnapshotRejected(
                    "TOO_LARGE",
                    _("Line %(line)d is %(size)d bytes, over the limit of %(limit)d bytes.")
                    % {"line": number, "size": len(line), "limit": MAX_ENVELOPE_BYTES},
                ),
            )
            continue
        yield _item(f"{name}:{number}", line)


def _zip_items(handle: IO[bytes]) -> Iterator[FileItem]:
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile:
        raise UploadError(_("The file looks like a zip archive but cannot be read."), field="file") from None
    with archive:
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir() and info.filename.lower().endswith(MEMBER_SUFFIXES)
        ]
        if not members:
            raise UploadError(_("The zip archive holds no .json or .jsonl file."), field="file")
        if len(members) > MAX_ZIP_MEMBERS:
            raise UploadError(
                _("The zip archive holds %(count)d files; at most %(limit)d are read.")
                % {"count": len(members), "limit": MAX_ZIP_MEMBERS},
                field="file",
            )
        total = sum(info.file_size for info in members)
        if total > settings.SNAPSHOT_UPLOAD_MAX_BYTES:
            raise UploadError(
                _("The zip archive unpacks to %(size)d bytes, over the limit of %(limit)d bytes.")
                % {"size": total, "limit": settings.SNAPSHOT_UPLOAD_MAX_BYTES},
                field="file",
            )
        for info in members:
            with archive.open(info) as member:
                if info.filename.lower().endswith((".jsonl", ".ndjson")):
                    yield from _lines(info.filename, member)
                else:
                    # The declared size was checked above; read one byte more to catch a lying header.
                    raw = member.read(MAX_JSON_ARRAY_BYTES + 1)
                    yield from _json_items(info.filename, raw)


def read_file_items(name: str, handle: IO[bytes]) -> Iterator[FileItem]:
    """The envelopes of a file, in order, whatever its format (zip, JSON array, JSON Lines, one JSON)."""
    head = handle.read(4)
    handle.seek(0)
    if head == b"PK\x03\x04":
        yield from _zip_items(handle)
        return
    if name.lower().endswith((".jsonl", ".ndjson")):
        yield from _lines(name, handle)
        return
    raw = handle.read(MAX_JSON_ARRAY_BYTES + 1)
    if len(raw) > MAX_JSON_ARRAY_BYTES and raw.lstrip()[:1] != b"[":
        handle.seek(0)
        yield from _lines(name, handle)
        return
    yield from _json_items(name, raw)


def count_items(name: str, handle: IO[bytes]) -> int:
    """How many envelopes a file holds (one cheap pass, for the progress bar)."""
    count = 0
    for _item_read in read_file_items(name, handle):
        count += 1
    handle.seek(0)
    return count


@dataclass
class FileReport:
    """What happened to a whole file."""

    total: int = 0
    stored: int = 0
    refused: int = 0
    refusals: list[dict[str, Any]] = field(default_factory=list)
    battery_codes: list[str] = field(default_factory=list)

    def add(self, results: list[ItemResult], offset: int, sources: list[str]) -> None:
        for result in results:
            self.total += 1
            if result.stored:
                self.stored += 1
                if (
                    result.battery_code
                    and len(self.battery_codes) < MAX_LISTED_BATTERIES
                    and result.battery_code not in self.battery_codes
                ):
                    self.battery_codes.append(result.battery_code)
                continue
            self.refused += 1
            if len(self.refusals) < MAX_STORED_REFUSALS and result.error is not None:
                self.refusals.append(
                    {
                        "index": offset + result.index,
                        "source": sources[result.index],
                        **result.error.as_dict(),
                        "http_status": result.error.status_code,
                    }
                )


def ingest_file(
    *,
    name: str,
    handle: IO[bytes],
    organisation: Organisation | None,
    user: Any,
    progress: Callable[[FileReport], None] | None = None,
) -> FileReport:
    """Ingest every envelope of a file in batches; refused items are reported, the others stored."""
    report = FileReport()
    offset = 0
    for chunk in chunked(read_file_items(name, handle), settings.SNAPSHOT_BATCH_MAX_ITEMS):
        results = ingest_documents([item.document for item in chunk], organisation=organisation, user=user)
        report.add(results, offset, [item.source for item in chunk])
        offset += len(chunk)
        if progress is not None:
            progress(report)
    return report


# ---------------------------------------------------------------------------------------------------
# The web upload job
# ---------------------------------------------------------------------------------------------------
@transaction.atomic
def start_snapshot_upload(*, upload: UploadedFile, by: User) -> SnapshotUpload:
    """Store an uploaded file of snapshots and queue its ingest."""
    organisation = getattr(by, "organisation", None)
    if organisation is None or not by.has_perm("passport.upload_snapshots"):
        raise NotPermitted(_("You may not upload snapshots."), code="UPLOAD_NOT_PERMITTED")
    if not upload.size:
        raise InvalidInput(_("The file is empty."), code="FILE_EMPTY", field="file")
    if upload.size > settings.SNAPSHOT_UPLOAD_MAX_BYTES:
        raise InvalidInput(
            _("The file is larger than %(limit)d MB.")
            % {"limit": settings.SNAPSHOT_UPLOAD_MAX_BYTES // (1024 * 1024)},
            code="FILE_TOO_LARGE",
            field="file",
        )
    job = SnapshotUpload.objects.create(
        organisation=organisation,
        requested_by=by,
        original_name=(upload.name or "snapshots.json")[:255],
        size=upload.size,
        file=upload,
    )
    tasks.run_snapshot_upload.delay_on_commit(upload_id=job.pk)
    return job


def run_snapshot_upload(*, upload_id: int) -> SnapshotUpload | None:
    """Ingest a stored upload; runs once per upload (the job row is claimed, a second run does nothing)."""
    claimed = SnapshotUpload.objects.filter(pk=upload_id, status=SnapshotUpload.Status.PENDING).update(
        status=SnapshotUpload.Status.RUNNING, started_at=timezone.now(), percent=1
    )
    job = SnapshotUpload.objects.select_related("organisation", "requested_by").filter(pk=upload_id).first()
    if claimed != 1 or job is None:
        return job
    try:
        with job.file.open("rb") as handle:
            total = count_items(job.original_name, handle)
            SnapshotUpload.objects.filter(pk=job.pk).update(item_count=total, percent=2)

            def progress(report: FileReport) -> None:
                SnapshotUpload.objects.filter(pk=job.pk).update(
                    processed_count=report.total,
                    stored_count=report.stored,
                    refused_count=report.refused,
                    percent=max(2, min(99, report.total * 100 // max(total, 1))),
                )

            report = ingest_file(
                name=job.original_name,
                handle=handle,
                organisation=job.organisation,
                user=job.requested_by,
                progress=progress,
            )
    except DomainError as error:
        return _finish(job, error=str(error.message))
    except Exception as exc:
        _finish(job, error=_("The upload failed: %(reason)s") % {"reason": exc})
        raise
    return _finish(job, report=report, total=total)


def _finish(
    job: SnapshotUpload, *, report: FileReport | None = None, total: int = 0, error: str = ""
) -> SnapshotUpload:
    job.refresh_from_db()
    job.status = SnapshotUpload.Status.FAILED if error else SnapshotUpload.Status.SUCCEEDED
    job.percent = 100
    job.error = error
    if report is not None:
        job.item_count = total
        job.processed_count = report.total
        job.stored_count = report.stored
        job.refused_count = report.refused
        job.refusals = report.refusals
        job.battery_codes = report.battery_codes
    job.finished_at = timezone.now()
    job.save()
    return job
