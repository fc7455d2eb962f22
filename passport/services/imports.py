"""Bulk CSV registration: the whole file is validated first, then imported whole or not at all.

Columns: `code` (required), `model`, `production_date` (YYYY-MM-DD, GS1 only), `parent_code`,
`original_code`. UTF-8 (a byte-order mark is allowed). A cell that starts with = + - @, a tab or a
carriage return is refused, so that a spreadsheet opening the error report never runs a formula.
Any bad row fails the whole file and nothing is imported; the report names every bad row and column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import DomainError, InvalidInput, NotPermitted
from passport import tasks
from passport.models import RegistrationImport
from passport.services.registration import (
    CHANNEL_CSV,
    RegistrationRequest,
    commit_plans,
    plan_registrations,
    record_clone_attempts,
    registrant_of,
)

REQUIRED_COLUMNS = ("code",)
OPTIONAL_COLUMNS = ("model", "production_date", "parent_code", "original_code")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_STORED_ERRORS = 1000


@dataclass(frozen=True)
class RowError:
    row: int | None  # line number in the file; the header is line 1
    column: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@transaction.atomic
def start_registration_import(*, upload: UploadedFile, by: User) -> RegistrationImport:
    """Store an uploaded CSV file and queue its import."""
    organisation = registrant_of(by)
    if not by.has_perm("passport.import_batteries"):
        raise NotPermitted(_("You may not import batteries."))
    if upload.size is not None and upload.size > MAX_FILE_BYTES:
        raise InvalidInput(
            _("The file is larger than %(limit)d MB.") % {"limit": MAX_FILE_BYTES // (1024 * 1024)},
            code="FILE_TOO_LARGE",
            field="file",
        )
    if not upload.size:
        raise InvalidInput(_("The file is empty."), code="FILE_EMPTY", field="file")
    job = RegistrationImport.objects.create(
        organisation=organisation,
        requested_by=by,
        original_name=(upload.name or "upload.csv")[:255],
        file=upload,
    )
    tasks.run_registration_import.delay_on_commit(import_id=job.pk)
    return job


def read_rows(raw: bytes) -> tuple[list[tuple[int, RegistrationRequest]], list[RowError]]:
    """Decode and split a CSV file into registration requests, refusing what is malformed."""
    errors: list[RowError] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [
            RowError(
                line,
                None,
                "ENCODING",
                _("Line %(line)d is not valid UTF-8 (byte %(byte)d). Save the file as UTF-8 CSV.")
                % {"line": line, "byte": exc.start + 1},
            )
        ]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], [RowError(1, None, "HEADER_MISSING", _("The file has no header row."))]
    names = [name.strip().lower() for name in header]
    for name in names:
        if name not in COLUMNS:
            errors.append(
                RowError(
                    1,
                    name,
                    "UNKNOWN_COLUMN",
                    _("Unknown column %(column)r; the columns are %(columns)s.")
                    % {"column": name, "columns": ", ".join(COLUMNS)},
                )
            )
    for name in sorted({name for name in names if names.count(name) > 1}):
        errors.append(
            RowError(
                1, name, "DUPLICATE_COLUMN", _("The column %(column)r appears twice.") % {"column": name}
            )
        )
    for name in REQUIRED_COLUMNS:
        if name not in names:
            errors.append(
                RowError(1, name, "MISSING_COLUMN", _("The column %(column)r is missing.") % {"column": name})
            )
    if errors:
        return [], errors

    requests: list[tuple[int, RegistrationRequest]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(requests) >= MAX_ROWS:
                errors.append(
                    RowError(
                        line,
                        None,
                        "TOO_MANY_ROWS",
                        _("A file may hold at most %(limit)d rows.") % {"limit": MAX_ROWS},
                    )
                )
                break
            if len(cells) != len(names):
                errors.append(
                    RowError(
                        line,
                        None,
                        "ROW_LENGTH",
                        _("Row %(row)d has %(found)d cells; the header has %(expected)d.")
                        % {"row": line, "found": len(cells), "expected": len(names)},
                    )
                )
                continue
            row = dict(zip(names, cells, strict=True))
            formula = next((name for name in names if row[name].startswith(FORMULA_PREFIXES)), None)
            if formula is not None:
                errors.append(
                    RowError(
                        line,
                        formula,
                        "FORMULA_CELL",
                        _(
                            "Row %(row)d, column %(column)s starts with %(first)r, "
                            "which spreadsheets run as a formula."
                        )
                        % {"row": line, "column": formula, "first": row[formula][:1]},
                    )
                )
                continue
            requests.append(
                (
                    line,
                    RegistrationRequest(
                        code=row["code"],
                        model=row.get("model", "").strip(),
                        production_date=row.get("production_date", "").strip() or None,
                        parent_code=row.get("parent_code", "").strip(),
                        original_code=row.get("original_code", "").strip(),
                    ),
                )
            )
    except csv.Error as exc:
        errors.append(
            RowError(
                reader.line_num, None, "CSV_SYNTAX", _("The CSV is malformed: %(reason)s") % {"reason": exc}
            )
        )
    if not requests and not errors:
        errors.append(RowError(None, None, "NO_ROWS", _("The file has a header but no rows.")))
    return requests, errors


def _progress(job: RegistrationImport, percent: int) -> None:
    RegistrationImport.objects.filter(pk=job.pk).update(percent=percent)


def run_registration_import(*, import_id: int) -> RegistrationImport | None:
    """Validate and import a stored CSV file; runs once per import (a second run does nothing)."""
    claimed = RegistrationImport.objects.filter(
        pk=import_id, status=RegistrationImport.Status.PENDING
    ).update(status=RegistrationImport.Status.RUNNING, started_at=timezone.now(), percent=1)
    job = (
        RegistrationImport.objects.select_related("organisation", "requested_by").filter(pk=import_id).first()
    )
    if claimed != 1 or job is None:
        return job
    try:
        with job.file.open("rb") as handle:
            raw = handle.read()
        _progress(job, 10)
        rows, errors = read_rows(raw)
        job.row_count = len(rows)
        _progress(job, 30)
        plans = []
        header_ok = not any(error.row in (None, 1) for error in errors)
        if rows and header_ok:
            line_of = [line for line, _request in rows]

            def label(index: int) -> str:
                return _("row %(row)d") % {"row": line_of[index]}

            outcome = plan_registrations(
                requests=[request for _line, request in rows], organisation=job.organisation, label=label
            )
            if outcome.existing:
                record_clone_attempts(
                    batteries=outcome.existing,
                    organisation=job.organisation,
                    user=job.requested_by,
                    channel=CHANNEL_CSV,
                )
            errors += [
                RowError(
                    line_of[problem.index], problem.field, problem.error.code, str(problem.error.message)
                )
                for problem in outcome.problems
            ]
            errors.sort(key=lambda error: (error.row or 0, error.column or ""))
            plans = outcome.plans
        _progress(job, 60)
        if errors:
            return _finish(job, errors=errors)
        created = commit_plans(
            plans=plans, organisation=job.organisation, user=job.requested_by, channel=CHANNEL_CSV
        )
        return _finish(job, imported=len(created))
    except DomainError as error:  # e.g. a code registered by someone else while this file was checked
        return _finish(job, errors=[RowError(None, error.field, error.code, str(error.message))])
    except Exception as exc:
        _finish(
            job,
            errors=[
                RowError(None, None, "IMPORT_FAILED", _("The import failed: %(reason)s") % {"reason": exc})
            ],
        )
        raise


def _finish(
    job: RegistrationImport, *, errors: list[RowError] | None = None, imported: int = 0
) -> RegistrationImport:
    errors = errors or []
    job.status = RegistrationImport.Status.FAILED if errors else RegistrationImport.Status.SUCCEEDED
    job.percent = 100
    job.imported_count = imported
    job.error_count = len(errors)
    job.errors = [error.as_dict() for error in errors[:MAX_STORED_ERRORS]]
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "percent",
            "imported_count",
            "error_count",
            "errors",
            "row_count",
            "finished_at",
        ]
    )
    return job
