"""Batch intake from a CSV file: the whole file is checked first, then recorded whole or not at all.

Columns: `code` (required), `occurred_at` (ISO 8601 with an offset, or a date meaning the site's local
midnight; default: when the file is recorded) and `note`. Every row is checked against the same rules
as a single intake (registered code, a state that allows intake, no open offer, time order, the site's
intake licence at that time) before anything is written; any bad row fails the whole file, and the
report names every bad row and column. Then one transaction records every row through
`record_intakes` (the set-based batch of the same rules); progress during it is published in the cache
because the job row is not visible to other connections until the commit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidInput
from custody import tasks
from custody.events.body import next_second
from custody.events.chain import Actor, actor_for, own_facility
from custody.events.machine import next_status
from custody.events.models import CustodyEvent, EventType
from custody.intake.models import IntakeImport
from custody.services.batch import IntakeItem, record_intakes
from custody.services.common import text
from custody.services.steps import check_intake_holder
from custody.transfers.models import Transfer
from licensing import local_time
from licensing.models import Activity, Facility
from licensing.selectors import licence_status
from passport import codes
from passport.models import Battery
from passport.selectors import manufacturer_lookup

COLUMNS = ("code", "occurred_at", "note")
REQUIRED = ("code",)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MAX_STORED = 1000
PROGRESS_EVERY = 200


def progress_key(import_id: int) -> str:
    return f"custody:intake-import:{import_id}:percent"


def progress_of(job: IntakeImport) -> int:
    """The job's progress: the row's own, or the cache's while the writing transaction runs."""
    if job.is_finished:
        return job.percent
    return max(job.percent, int(cache.get(progress_key(job.pk)) or 0))


@dataclass(frozen=True)
class RowProblem:
    row: int | None
    column: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass
class Row:
    line: int
    code: str
    occurred_at: datetime | None
    note: str


@transaction.atomic
def start_intake_import(*, upload: UploadedFile, facility: Facility | int | None, by: Any) -> IntakeImport:
    """Store a CSV of batteries taken in at one site and queue its checking and recording."""
    actor = actor_for(by)
    site = own_facility(actor, facility)
    if not upload.size:
        raise InvalidInput(_("The file is empty."), code="FILE_EMPTY", field="file")
    if upload.size > MAX_FILE_BYTES:
        raise InvalidInput(
            _("The file is larger than %(limit)d MB.") % {"limit": MAX_FILE_BYTES // (1024 * 1024)},
            code="FILE_TOO_LARGE",
            field="file",
        )
    job = IntakeImport.objects.create(
        organisation=actor.organisation,
        requested_by=by,
        facility=site,
        original_name=(upload.name or "intake.csv")[:255],
        file=upload,
    )
    tasks.run_intake_import.delay_on_commit(import_id=job.pk)
    return job


def read_rows(raw: bytes, *, zone: str) -> tuple[list[Row], list[RowProblem]]:
    """Split the file into rows, refusing what is malformed (encoding, header, formulas, times)."""
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [
            RowProblem(line, None, "ENCODING", _("Line %(line)d is not valid UTF-8.") % {"line": line})
        ]
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except (StopIteration, csv.Error):
        return [], [RowProblem(1, None, "HEADER_MISSING", _("The file has no header row."))]
    problems = [
        RowProblem(
            1,
            name,
            "UNKNOWN_COLUMN",
            _("Unknown column %(column)r; the columns are %(columns)s.")
            % {"column": name, "columns": ", ".join(COLUMNS)},
        )
        for name in header
        if name not in COLUMNS
    ]
    problems += [
        RowProblem(1, name, "MISSING_COLUMN", _("The column %(column)r is missing.") % {"column": name})
        for name in REQUIRED
        if name not in header
    ]
    if problems:
        return [], problems
    rows: list[Row] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                problems.append(
                    RowProblem(
                        line,
                        None,
                        "TOO_MANY_ROWS",
                        _("A file may hold at most %(max)d rows.") % {"max": MAX_ROWS},
                    )
                )
                break
            if len(cells) != len(header):
                problems.append(
                    RowProblem(
                        line,
                        None,
                        "ROW_LENGTH",
                        _("Row %(row)d has %(found)d cells; the header has %(expected)d.")
                        % {"row": line, "found": len(cells), "expected": len(header)},
                    )
                )
                continue
            values = dict(zip(header, cells, strict=True))
            formula = next((name for name in header if values[name].startswith(FORMULA_PREFIXES)), None)
            if formula is not None:
                problems.append(
                    RowProblem(
                        line,
                        formula,
                        "FORMULA_CELL",
                        _("Row %(row)d, column %(column)s starts with a character that spreadsheets run.")
                        % {"row": line, "column": formula},
                    )
                )
                continue
            occurred_at = None
            when_text = values.get("occurred_at", "").strip()
            if when_text:
                occurred_at = local_time.parse_instant(when_text, zone)
                if occurred_at is None:
                    problems.append(
                        RowProblem(
                            line,
                            "occurred_at",
                            "TIME_INVALID",
                            _("Row %(row)d: write the time as 2026-05-01T08:00:00+08:00 or as a date.")
                            % {"row": line},
                        )
                    )
                    continue
            try:
                note = text(values.get("note", ""), field="note", max_length=500)
            except DomainError as error:
                problems.append(RowProblem(line, "note", error.code, str(error.message)))
                continue
            rows.append(Row(line=line, code=values["code"], occurred_at=occurred_at, note=note))
    except csv.Error as exc:
        problems.append(
            RowProblem(
                reader.line_num, None, "CSV_SYNTAX", _("The CSV is malformed: %(reason)s") % {"reason": exc}
            )
        )
    if not rows and not problems:
        problems.append(RowProblem(None, None, "NO_ROWS", _("The file has a header but no rows.")))
    return rows, problems


def check_rows(rows: list[Row], *, actor: Actor, site: Facility, on_progress: Any = None) -> list[RowProblem]:
    """Every rule of a single intake, for every row, in a few queries; nothing is written."""
    problems: list[RowProblem] = []
    parsed: dict[int, str] = {}
    seen: dict[str, int] = {}
    for row in rows:
        try:
            code = codes.parse_code(row.code, manufacturer_lookup=manufacturer_lookup).code
        except codes.CodeError as error:
            problems.append(RowProblem(row.line, "code", error.code, str(error.message)))
            continue
        if code in seen:
            problems.append(
                RowProblem(
                    row.line,
                    "code",
                    "DUPLICATE_IN_FILE",
                    _("%(code)s is already on row %(first)d.") % {"code": code, "first": seen[code]},
                )
            )
            continue
        seen[code] = row.line
        parsed[row.line] = code
    batteries = {
        battery.code: battery
        for battery in Battery.objects.filter(code__in=set(parsed.values())).select_related(
            "current_custodian"
        )
    }
    pending = set(
        Transfer.objects.pending().filter(battery__in=batteries.values()).values_list("battery_id", flat=True)
    )
    latest = dict(
        CustodyEvent.objects.filter(battery__in=batteries.values())
        .values("battery_id")
        .annotate(last=Max("occurred_at"))
        .values_list("battery_id", "last")
    )
    licences: dict[datetime, Any] = {}
    for position, row in enumerate(rows):
        if on_progress and position % PROGRESS_EVERY == 0:
            on_progress(position)
        code = parsed.get(row.line)
        if code is None:
            continue
        battery = batteries.get(code)
        if battery is None:
            problems.append(
                RowProblem(
                    row.line,
                    "code",
                    "BATTERY_NOT_FOUND",
                    _("No battery is registered under %(code)s.") % {"code": code},
                )
            )
            continue
        try:
            check_intake_holder(battery, actor.organisation)
            next_status(battery, EventType.INTAKE)
        except DomainError as error:
            problems.append(RowProblem(row.line, "code", error.code, str(error.message)))
            continue
        if battery.pk in pending:
            problems.append(
                RowProblem(
                    row.line,
                    "code",
                    "TRANSFER_PENDING",
                    _("%(code)s is offered to another organisation.") % {"code": code},
                )
            )
            continue
        when = row.occurred_at or next_second(actor.now)
        if when > actor.recorded_at + timedelta(minutes=5):
            problems.append(
                RowProblem(row.line, "occurred_at", "OCCURRED_IN_FUTURE", _("The time is in the future."))
            )
            continue
        last = latest.get(battery.pk)
        if last is not None and when.replace(microsecond=0) < last:
            problems.append(
                RowProblem(
                    row.line,
                    "occurred_at",
                    "OCCURRED_BEFORE_PREVIOUS",
                    _("%(code)s's previous step is dated %(previous)s; the intake cannot be earlier.")
                    % {"code": code, "previous": f"{last:%Y-%m-%d %H:%M:%S} UTC"},
                )
            )
            continue
        status = licences.get(when)
        if status is None:
            status = licences[when] = licence_status(facility=site, activity=Activity.INTAKE, at=when)
        if not status.ok:
            problems.append(
                RowProblem(row.line, "occurred_at" if row.occurred_at else None, status.code, status.message)
            )
    problems.sort(key=lambda problem: (problem.row or 0, problem.column or ""))
    return problems


def _set_progress(job: IntakeImport, percent: int) -> None:
    IntakeImport.objects.filter(pk=job.pk).update(percent=percent)


def run_intake_import(*, import_id: int) -> IntakeImport | None:
    """Check and record a stored intake file; runs once per import (a second run does nothing)."""
    claimed = IntakeImport.objects.filter(pk=import_id, status=IntakeImport.Status.PENDING).update(
        status=IntakeImport.Status.RUNNING, started_at=timezone.now(), percent=1
    )
    job = (
        IntakeImport.objects.select_related("organisation", "requested_by", "facility")
        .filter(pk=import_id)
        .first()
    )
    if claimed != 1 or job is None:
        return job
    try:
        if job.requested_by is None:
            return _finish(
                job, problems=[RowProblem(None, None, "NOT_PERMITTED", _("The uploader no longer exists."))]
            )
        actor = actor_for(job.requested_by)
        with job.file.open("rb") as handle:
            raw = handle.read()
        _set_progress(job, 5)
        rows, problems = read_rows(raw, zone=job.facility.timezone)
        job.row_count = len(rows)
        if not problems:
            total = max(len(rows), 1)
            problems = check_rows(
                rows,
                actor=actor,
                site=job.facility,
                on_progress=lambda done: _set_progress(job, 5 + 45 * done // total),
            )
        if problems:
            return _finish(job, problems=problems)
        _set_progress(job, 50)
        report = _record(job, rows, actor)
        return _finish(job, report=report)
    except DomainError as error:
        return _finish(job, problems=[RowProblem(None, error.field, error.code, str(error.message))])
    except Exception as exc:
        _finish(
            job,
            problems=[
                RowProblem(None, None, "IMPORT_FAILED", _("The import failed: %(reason)s") % {"reason": exc})
            ],
        )
        raise


def _record(job: IntakeImport, rows: list[Row], actor: Actor) -> list[dict[str, Any]]:
    """Record every row in one transaction; a refusal (a change since the check) undoes all of it."""
    total = max(len(rows), 1)
    try:
        events = record_intakes(
            by=job.requested_by,
            actor=actor,
            facility=job.facility,
            items=[IntakeItem(code=row.code, occurred_at=row.occurred_at, note=row.note) for row in rows],
            on_progress=lambda done: cache.set(progress_key(job.pk), 50 + 49 * done // total, timeout=3600),
        )
    except DomainError as error:
        position = (
            int(error.field.split("[", 1)[1].split("]", 1)[0])
            if (error.field or "").startswith("items[")
            else None
        )
        row = rows[position].line if position is not None else None
        raise DomainError(
            _("Row %(row)s: %(message)s Nothing was recorded.")
            % {"row": row or "?", "message": error.message},
            code=error.code,
            field="code",
        ) from error
    codes = {
        battery_id: code
        for battery_id, code in Battery.objects.filter(
            pk__in=[event.battery_id for event in events[:MAX_STORED]]
        ).values_list("pk", "code")
    }
    return [
        {"row": row.line, "code": codes[event.battery_id], "seq": event.seq, "event_hash": event.hash_hex}
        for row, event in zip(rows[:MAX_STORED], events[:MAX_STORED], strict=True)
    ]


def _finish(
    job: IntakeImport, *, problems: list[RowProblem] | None = None, report: list[dict[str, Any]] | None = None
) -> IntakeImport:
    problems = problems or []
    job.status = IntakeImport.Status.FAILED if problems else IntakeImport.Status.SUCCEEDED
    job.percent = 100
    job.recorded_count = 0 if problems else job.row_count
    job.error_count = len(problems)
    job.errors = [problem.as_dict() for problem in problems[:MAX_STORED]]
    job.report = report or []
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "percent",
            "row_count",
            "recorded_count",
            "error_count",
            "errors",
            "report",
            "finished_at",
        ]
    )
    cache.delete(progress_key(job.pk))
    return job
