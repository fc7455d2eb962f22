"""The CSV report: one row per custody event, for spreadsheets (columns in the README's Reports section).

Rows come subject by subject (batteries, then material lots, each in code order, events in chain
order), read in chunks of subjects through `.iterator()` (a server-side cursor on PostgreSQL), so memory
stays flat whatever the scope. Each row says whether its event still matches its hash and links to the
event before it, how far the transparency log has taken it, and under which licence it happened; the
last three columns repeat, on each of a subject's rows, a summary of its custody over the rows shown.

Safe to open in a spreadsheet: UTF-8 with a byte-order mark, and any text cell starting with = + - @, a
tab or a carriage return is prefixed with an apostrophe so it is never taken for a formula.
Anonymised: codes become keyed pseudonyms, times are cut to the day, and the hashes (which are
computed over the codes) are left empty; no column ever holds personal data.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from django.db import connection
from django.db.models import CharField, Exists, F, Func, IntegerField, OuterRef, Q, Subquery
from django.utils.translation import gettext as _

from crossborder.scrub import pseudonym
from custody.events.models import CustodyEvent
from custody.transparency.models import Checkpoint, LogLeaf
from licensing.models import LicenceEvent
from reports.formats.base import ReportContext

COLUMNS = (
    "subject_kind",
    "subject_code",
    "seq",
    "event_type",
    "occurred_at",
    "recorded_at",
    "actor_organisation",
    "facility",
    "activity",
    "licence_number",
    "licence_status_then",
    "licence_revoked_later",
    "event_hash",
    "prev_hash",
    "hash_matches_body",
    "links_to_previous",
    "log_status",
    "subject_origin",
    "subject_custody_check",
    "subject_custody_reason",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
SUBJECTS_PER_QUERY = 500
ROWS_PER_FETCH = 2_000
FLUSH_BYTES = 256 * 1024

_FIELDS = (
    "battery_id",
    "lot_id",
    "battery__code",
    "lot__code",
    "battery__origin",
    "seq",
    "type",
    "occurred_at",
    "recorded_at",
    "actor__name",
    "facility__name",
    "activity",
    "licence__number",
    "licence_status",
    "revoked_later",
    "hash",
    "prev_hash",
    "body",
    "leaf_index",
)


def safe_cell(value: Any) -> str:
    """The cell as text, never read as a formula by a spreadsheet."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _yes_no(flag: bool | None) -> str:
    if flag is None:
        return ""
    return "yes" if flag else "no"


def _utc(moment: datetime | str, *, day_only: bool) -> str:
    if isinstance(moment, str):
        return moment  # already formatted by the database
    moment = moment.astimezone(UTC)
    if day_only:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class UtcText(Func):
    """An instant as the CSV writes it, formatted by PostgreSQL: a string per row instead of a parsed,
    time-zone-converted datetime (the largest cost of a large CSV). Other databases format in Python."""

    output_field = CharField()

    def __init__(self, expression: Any, *, day_only: bool) -> None:
        self.day_only = day_only
        super().__init__(expression)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        pattern = "YYYY-MM-DD" if self.day_only else 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
        template = f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{pattern}')"
        return self.as_sql(compiler, connection, template=template, **extra)


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _events(kind: str, chunk: Sequence[int], ctx: ReportContext) -> Iterator[tuple[Any, ...]]:
    """Event rows of a chunk of subjects, ordered by subject code then chain order."""
    leaf = LogLeaf.objects.filter(event_hash=OuterRef("hash")).values("index")[:1]
    revoked_later = LicenceEvent.objects.filter(
        licence=OuterRef("licence_id"),
        kind=LicenceEvent.Kind.REVOKED,
        effective_at__lte=OuterRef("occurred_at"),
        recorded_at__gt=OuterRef("recorded_at"),
    )
    in_range = Q()
    if ctx.date_from is not None:
        in_range &= Q(occurred_at__gte=ctx.date_from)
    if ctx.date_to is not None:
        in_range &= Q(occurred_at__lt=ctx.date_to)
    subject = {"battery_id__in": chunk} if kind == "battery" else {"lot_id__in": chunk}
    fields = list(_FIELDS)
    events = CustodyEvent.objects.filter(in_range, **subject).annotate(
        leaf_index=Subquery(leaf, output_field=IntegerField()),
        revoked_later=Exists(revoked_later),
    )
    if connection.vendor == "postgresql":
        events = events.annotate(
            occurred_text=UtcText(F("occurred_at"), day_only=ctx.anonymised),
            recorded_text=UtcText(F("recorded_at"), day_only=ctx.anonymised),
        )
        fields[fields.index("occurred_at")] = "occurred_text"
        fields[fields.index("recorded_at")] = "recorded_text"
    events = events.order_by("battery__code" if kind == "battery" else "lot__code", "seq").values_list(
        *fields
    )
    return events.iterator(chunk_size=ROWS_PER_FETCH)


class _Subject:
    """One subject's rows, held until its last event so its summary can go on each of them."""

    def __init__(self, kind: str, subject_id: int, code: str, origin: str) -> None:
        self.kind = kind
        self.id = subject_id
        self.code = code
        self.origin = origin
        self.rows: list[list[str]] = []
        self.problem: str = ""
        self.pending = 0
        self.previous_seq: int | None = None
        self.previous_hash: bytes | None = None


def _summary(subject: _Subject, passed: str) -> tuple[str, str]:
    if subject.problem:
        return "failed", subject.problem
    if subject.pending:
        return "incomplete", _("%(count)d event(s) not yet in a signed checkpoint of the log.") % {
            "count": subject.pending
        }
    return "passed", passed


def _row(
    subject: _Subject,
    event: tuple[Any, ...],
    ctx: ReportContext,
    checkpoint_size: int,
    code_of: Callable[[str], str],
) -> list[str]:
    """One event's cells (the subject's summary is added when its last event is read)."""
    (seq, event_type, occurred_at, recorded_at, actor, facility, activity, licence_number, licence_status,
     revoked, event_hash, prev_hash, body, leaf_index) = event  # fmt: skip
    event_hash = bytes(event_hash)
    prev_hash = bytes(prev_hash) if prev_hash is not None else None
    matches = hashlib.sha256(body.encode("utf-8")).digest() == event_hash
    if subject.previous_seq is None:
        # The first event shown: its link is checkable only when it starts the chain.
        links: bool | None = (prev_hash is None) if seq == 0 else None
    else:
        links = seq == subject.previous_seq + 1 and prev_hash == subject.previous_hash
    subject.previous_seq, subject.previous_hash = seq, event_hash
    if leaf_index is None:
        log_status = "queued"
        subject.pending += 1
    elif leaf_index < checkpoint_size:
        log_status = "checkpointed"
    else:
        log_status = "sequenced"
        subject.pending += 1
    if not subject.problem:
        if not matches:
            subject.problem = _("Event #%(seq)d no longer matches its hash.") % {"seq": seq}
        elif links is False:
            subject.problem = _("Event #%(seq)d does not link to the event before it.") % {"seq": seq}
        elif activity and (licence_number is None or licence_status != "active"):
            subject.problem = _("Event #%(seq)d (%(activity)s) was not covered by a licence in force.") % {
                "seq": seq,
                "activity": activity,
            }
        elif revoked:
            subject.problem = _(
                "The licence covering event #%(seq)d was later revoked with effect from before it."
            ) % {"seq": seq}
    anonymised = ctx.anonymised
    return [
        subject.kind,
        safe_cell(code_of(subject.code)),
        str(seq),
        event_type,
        _utc(occurred_at, day_only=anonymised),
        _utc(recorded_at, day_only=anonymised),
        safe_cell(actor),
        safe_cell(facility),
        activity or "",
        safe_cell(licence_number),
        licence_status or "",
        _yes_no(revoked) if licence_number else "",
        "" if anonymised else event_hash.hex(),
        "" if anonymised or prev_hash is None else prev_hash.hex(),
        _yes_no(matches),
        _yes_no(links),
        log_status,
    ]


def write_csv(ctx: ReportContext, out: IO[bytes]) -> int:
    """Write the CSV report to `out`; returns the number of event rows."""
    checkpoint_size = Checkpoint.objects.order_by("-id").values_list("tree_size", flat=True).first() or 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(COLUMNS)
    rows_written = 0
    passed = safe_cell(
        _("Every event matches its hash, links up, was licensed where needed and is in the log.")
    )

    def flush(force: bool = False) -> None:
        if force or buffer.tell() >= FLUSH_BYTES:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()

    def emit(subject: _Subject) -> None:
        nonlocal rows_written
        check, reason = _summary(subject, passed)
        for row in subject.rows:
            row.extend((subject.origin, check, safe_cell(reason)))
            writer.writerow(row)
        rows_written += len(subject.rows)
        flush()

    def code_of(code: str) -> str:
        return pseudonym(code) if ctx.anonymised else code

    subjects_before = 0
    for kind, ids in (("battery", ctx.battery_ids), ("lot", ctx.lot_ids)):
        for start in range(0, len(ids), SUBJECTS_PER_QUERY):
            chunk = ids[start : start + SUBJECTS_PER_QUERY]
            position = {subject_id: subjects_before + start + index for index, subject_id in enumerate(chunk)}
            current: _Subject | None = None
            for row in _events(kind, chunk, ctx):
                subject_id = row[0] if kind == "battery" else row[1]
                if current is None or current.id != subject_id:
                    if current is not None:
                        emit(current)
                        ctx.tick(position[current.id] + 1)
                    current = _Subject(kind, subject_id, row[2] or row[3], row[4] or "")
                current.rows.append(_row(current, row[5:], ctx, checkpoint_size, code_of))
            if current is not None:
                emit(current)
            ctx.tick(subjects_before + start + len(chunk))
        subjects_before += len(ids)
    flush(force=True)
    return rows_written
