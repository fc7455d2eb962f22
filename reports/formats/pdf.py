"""The custody report for people: a cover, then a page per battery (its QR, verdict and custody steps)
and per material lot, rendered by WeasyPrint in the requester's language.

WeasyPrint lays a document out whole, so one document for 10,000 batteries would be slow and hold
every page in memory. The report is therefore rendered in chunks of up to `CHUNK` subjects, each its
own WeasyPrint document, and `PdfConcatenator` streams every chunk's PDF objects into the one output
file as soon as the chunk is laid out (renumbered, under one page tree, its pages numbered), keeping
only their byte offsets. This process reads each chunk's subjects with a fixed number of queries (the
verdicts' custody facts included) and renders its HTML; REPORT_PDF_PROCESSES worker processes lay the
chunks out meanwhile (`pdf_render`), at most two each in flight, and hand them back in order. Chinese
renders in WenQuanYi Micro Hei, which WeasyPrint embeds (subset) in every chunk that uses it.

Speed comes from what WeasyPrint is given: text in few blocks (`white-space: pre-line`, no `<br>` or
table cells, each of which costs a layout pass), no floats, no bookmarks, and each QR code as a
one-pixel-per-module PNG (drawing an SVG's paths costs ten times more), cached once drawn. About 20 ms
of a worker's CPU per page remain, nearly all WeasyPrint's own Python.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.errors import DomainError
from custody.events.models import CustodyEvent, EventType
from custody.lots.models import MaterialLot
from custody.lots.qr import lot_url
from custody.transparency.models import Checkpoint, LogLeaf
from custody.verdict import prefetch_custody_facts
from licensing.models import DEFAULT_TIMEZONE, Activity, Licence
from licensing.selectors import flagged_by_revocation, revocations_of
from passport import qr
from passport.models import Battery
from passport.snapshots.verdict import prefetch_unsigned_counts
from passport.verdict import compute_verdict
from reports.formats.base import ReportContext
from reports.formats.pdf_render import (
    Chunk,
    ChunkFailed,
    InProcessLayout,
    WorkerLayout,
    page_number_stream,
    qr_source,
)

logger = logging.getLogger(__name__)

CHUNK = 50  # the most subjects (about as many pages) per WeasyPrint document
MIN_CHUNK = 25  # the fewest, when a smaller report is split so that every worker has a few
SCOPE_BATCH = 1000  # subject ids per aggregate query for the cover


# ---------------------------------------------------------------------------------------------------
# Streaming PDF concatenation
# ---------------------------------------------------------------------------------------------------
_REFERENCE_OR_STRING = re.compile(rb"\\.|[()]|<<|>>|<|>|(?<![\w.+\-#])(\d+) (\d+) R(?!\w)", re.S)
_STREAM = b"\nstream\n"


def renumber(data: bytes, shift: int) -> bytes:
    """`data` with every indirect reference `n g R` moved to `n+shift g R`; strings are left alone."""
    out: list[bytes] = []
    position = 0
    depth = 0  # inside a literal string (parentheses nest)
    hexadecimal = False  # inside a <hex string>
    for match in _REFERENCE_OR_STRING.finditer(data):
        token = match.group(0)
        if depth:
            if token == b"(":
                depth += 1
            elif token == b")":
                depth -= 1
            continue
        if hexadecimal:
            hexadecimal = token != b">"
            continue
        if token == b"(":
            depth = 1
        elif token == b"<":
            hexadecimal = True
        elif match.group(1) is not None:
            out.append(data[position : match.start()])
            out.append(b"%d %s R" % (int(match.group(1)) + shift, match.group(2)))
            position = match.end()
    out.append(data[position:])
    return b"".join(out)


class PdfConcatenator:
    """Writes one PDF to `out` from chunks laid out one after another (`pdf_render.Chunk`).

    Objects 1 and 2 are reserved for the catalog and the root page tree, written last; each chunk's
    objects follow, renumbered past the ones before, its own page tree hung under the root, its own
    catalog left as a free entry and its pages' number slots filled with their page numbers. Only the
    objects' offsets stay in memory.
    """

    CATALOG = 1
    ROOT = 2

    def __init__(self, out: IO[bytes], *, title: str, language: str) -> None:
        self.out = out
        self.title = title
        self.language = language
        self.position = 0
        self.offsets: list[int] = [0, 0, 0]  # object 0 is the free head of the xref table
        self.kids: list[int] = []
        self.pages = 0
        self._write(b"%PDF-1.7\n%\xf0\x9f\x96\xa4\n")

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.position += len(data)

    def _object(self, number: int, data: bytes) -> None:
        if number == len(self.offsets):
            self.offsets.append(self.position)
        else:
            self.offsets[number] = self.position
        self._write(b"%d 0 obj\n%s\nendobj\n" % (number, data))

    def add(self, chunk: Chunk) -> int:
        """Write the objects of a laid-out chunk and number its pages; returns their count."""
        shift = len(self.offsets) - 1  # the chunk's object 1 becomes the next free number
        self.offsets.extend([0] * chunk.highest)  # numbers left unwritten stay free entries
        for number, data in chunk.objects:
            head, stream, rest = data.partition(_STREAM)
            data = renumber(head, shift) + stream + rest if stream else renumber(data, shift)
            if number == chunk.pages_object:
                data = b"<</Parent %d 0 R" % self.ROOT + data[2:]
                self.kids.append(number + shift)
            self._object(number + shift, data)
        for slot in chunk.slots:
            self.pages += 1
            self._object(slot.number + shift, page_number_stream(slot, self.pages))
        return chunk.page_count

    def close(self) -> None:
        """The root page tree, the catalog, the document information, the cross-reference table."""
        kids = b" ".join(b"%d 0 R" % kid for kid in self.kids)
        self._object(self.ROOT, b"<</Type /Pages /Kids [%s] /Count %d>>" % (kids, self.pages))
        self._object(
            self.CATALOG, b"<</Type /Catalog /Pages %d 0 R /Lang %s>>" % (self.ROOT, _text(self.language))
        )
        info = len(self.offsets)
        created = timezone.now().astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")
        self._object(
            info,
            b"<</Title %s /Producer (Voltrace) /CreationDate (%s)>>" % (_text(self.title), created.encode()),
        )
        xref = self.position
        lines = [b"xref\n0 %d\n" % len(self.offsets), b"0000000000 65535 f \n"]
        lines += [
            b"%010d 00000 n \n" % offset if offset else b"0000000000 00000 f \n"
            for offset in self.offsets[1:]
        ]
        self._write(b"".join(lines))
        self._write(
            b"trailer\n<</Size %d /Root %d 0 R /Info %d 0 R>>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self.offsets), self.CATALOG, info, xref)
        )


def _text(value: str) -> bytes:
    """A PDF text string: UTF-16BE with its byte-order mark, as hex."""
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode() + b">"


# ---------------------------------------------------------------------------------------------------
# What the pages show
# ---------------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One custody event as a row of a subject's table."""

    when: str
    label: str
    site: str
    organisation: str
    activity: str
    licence: str
    status: str
    flagged: bool


@dataclass
class Subject:
    kind: str  # "battery" | "lot"
    code: str
    facts: list[tuple[str, str]]
    qr: str | None
    steps: list[Step] = field(default_factory=list)
    verdict: Any = None


QR_IMAGE_VERSION = "1"  # bump when the image changes, so cached ones are replaced


def qr_cache_key(url: str) -> str:
    return f"reports:qr:{QR_IMAGE_VERSION}:{qr.RENDER_VERSION}:{hashlib.sha256(url.encode()).hexdigest()}"


def qr_sources(urls: dict[str, str]) -> dict[str, str]:
    """The image source of each subject's QR code ({code: encoded address}), cached ones in one round
    trip as `data:` PNGs; a missing one as a `qr:` source, drawn by the layout (`pdf_render.qr_png`)
    and then cached by `cache_qr_images`."""
    found = cache.get_many([qr_cache_key(url) for url in urls.values()])
    sources = {}
    for code, url in urls.items():
        png = found.get(qr_cache_key(url))
        sources[code] = (
            "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            if png is not None
            else qr_source(url)
        )
    return sources


def cache_qr_images(drawn: dict[str, bytes]) -> None:
    """Keep the QR images a chunk's layout drew, without expiry (an address never changes its symbol)."""
    if drawn:
        cache.set_many({qr_cache_key(url): png for url, png in drawn.items()}, timeout=None)


def _local(moment: datetime, zone: str, *, day_only: bool) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    if day_only:
        return moment.astimezone(UTC).strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M ") + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]


def _steps(events: list[CustodyEvent], revocations: dict[int, Any], *, anonymised: bool) -> list[Step]:
    labels = dict(EventType.choices)
    activities = dict(Activity.choices)
    statuses = dict(Licence.Status.choices)
    rows = []
    for event in events:
        zone = event.facility.timezone if event.facility_id else DEFAULT_TIMEZONE
        revocation = revocations.get(event.licence_id) if event.licence_id else None
        rows.append(
            Step(
                when=_local(event.occurred_at, zone, day_only=anonymised),
                label=str(labels.get(event.type, event.type)),
                site=event.facility.name if event.facility_id else "",
                organisation=event.actor.name,
                activity=str(activities.get(event.activity, "")) if event.activity else "",
                licence=event.licence.number if event.licence_id else "",
                status=str(statuses.get(event.licence_status, event.licence_status))
                if event.activity
                else "",
                flagged=flagged_by_revocation(
                    revocation=revocation, occurred_at=event.occurred_at, recorded_at=event.recorded_at
                ),
            )
        )
    return rows


def _events(ctx: ReportContext, subjects: Q) -> list[CustodyEvent]:
    events = CustodyEvent.objects.filter(subjects)
    if ctx.date_from is not None:
        events = events.filter(occurred_at__gte=ctx.date_from)
    if ctx.date_to is not None:
        events = events.filter(occurred_at__lt=ctx.date_to)
    return list(
        events.select_related("facility", "actor", "licence")
        .only(
            "battery",
            "lot",
            "seq",
            "type",
            "occurred_at",
            "recorded_at",
            "activity",
            "licence_status",
            "facility",
            "facility__name",
            "facility__timezone",
            "actor",
            "actor__name",
            "licence",
            "licence__number",
        )
        .order_by("battery_id", "lot_id", "seq")
    )


def _grouped(events: list[CustodyEvent], key: str) -> dict[int, list[CustodyEvent]]:
    grouped: dict[int, list[CustodyEvent]] = {}
    for event in events:
        grouped.setdefault(getattr(event, key), []).append(event)
    return grouped


def battery_subjects(ctx: ReportContext, ids: Sequence[int], pseudonym: Any) -> list[Subject]:
    """The pages of a chunk of batteries: one query for them, one for their events, one for revocations,
    one for their verdicts' custody facts and, when any has BMS snapshots, one for their key checks."""
    batteries = {battery.pk: battery for battery in Battery.objects.for_passport().filter(pk__in=ids)}
    events = _events(ctx, Q(battery_id__in=ids))
    revocations = revocations_of(
        licence_ids=sorted({event.licence_id for event in events if event.licence_id})
    )
    chains = _grouped(events, "battery_id")
    images = (
        {}
        if ctx.anonymised
        else qr_sources({battery.code: qr.passport_url(battery.code) for battery in batteries.values()})
    )
    moment = timezone.now()
    prefetch_custody_facts(batteries.values(), at=moment)  # the verdicts' custody facts, in one query
    prefetch_unsigned_counts(batteries.values())  # and their snapshots' key checks, in one more
    subjects = []
    for pk in ids:
        battery = batteries.get(pk)
        if battery is None:
            continue
        model = battery.battery_model
        facts = [
            (_("Manufacturer"), battery.oem.name),
            (_("Model"), f"{model.name} · {model.get_chemistry_display()}" if model else ""),
            (_("Product type"), battery.get_product_type_display()),
            (_("Status"), battery.get_status_display()),
            (_("Origin"), battery.get_origin_display()),
        ]
        if not ctx.anonymised:
            facts.append((_("Production date"), battery.production_date.isoformat()))
        subjects.append(
            Subject(
                kind="battery",
                code=pseudonym(battery.code) if ctx.anonymised else battery.code,
                facts=[(label, value) for label, value in facts if value],
                qr=images.get(battery.code),
                steps=_steps(chains.get(pk, []), revocations, anonymised=ctx.anonymised),
                verdict=compute_verdict(battery, at=moment),
            )
        )
    return subjects


def lot_subjects(ctx: ReportContext, ids: Sequence[int]) -> list[Subject]:
    """The pages of a chunk of material lots: three queries."""
    lots = {lot.pk: lot for lot in MaterialLot.objects.select_related("current_custodian").filter(pk__in=ids)}
    events = _events(ctx, Q(lot_id__in=ids))
    revocations = revocations_of(
        licence_ids=sorted({event.licence_id for event in events if event.licence_id})
    )
    chains = _grouped(events, "lot_id")
    images = qr_sources({lot.code: lot_url(lot.code) for lot in lots.values()})
    subjects = []
    for pk in ids:
        lot = lots.get(pk)
        if lot is None:
            continue
        subjects.append(
            Subject(
                kind="lot",
                code=lot.code,
                facts=[
                    (_("Material"), lot.get_material_display()),
                    (_("Mass"), _("%(mass)s kg") % {"mass": f"{lot.mass_kg:f}"}),
                    (_("Status"), lot.get_status_display()),
                    (_("Custodian"), lot.current_custodian.name),
                ],
                qr=images.get(lot.code),
                steps=_steps(chains.get(pk, []), revocations, anonymised=ctx.anonymised),
            )
        )
    return subjects


# ---------------------------------------------------------------------------------------------------
# The cover
# ---------------------------------------------------------------------------------------------------
@dataclass
class Coverage:
    events: int
    logged: int
    last_leaf: int | None

    @property
    def complete(self) -> bool:
        return self.events == self.logged


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def coverage(ctx: ReportContext) -> Coverage:
    """How many events the scope has, how many are in the log, and the last log entry among them."""
    events = logged = 0
    last: int | None = None
    for column, ids in (("battery_id", ctx.battery_ids), ("lot_id", ctx.lot_ids)):
        for batch in _chunks(ids, SCOPE_BATCH):
            scoped = CustodyEvent.objects.filter(**{f"{column}__in": batch})
            if ctx.date_from is not None:
                scoped = scoped.filter(occurred_at__gte=ctx.date_from)
            if ctx.date_to is not None:
                scoped = scoped.filter(occurred_at__lt=ctx.date_to)
            events += scoped.count()
            leaves = LogLeaf.objects.filter(event_hash__in=scoped.values("hash")).aggregate(
                found=Count("index"), last=Max("index")
            )
            logged += leaves["found"]
            if leaves["last"] is not None:
                last = leaves["last"] if last is None else max(last, leaves["last"])
    return Coverage(events=events, logged=logged, last_leaf=last)


def covering_checkpoint(scope: Coverage) -> Checkpoint | None:
    """The latest signed checkpoint, if it includes every event of the scope."""
    if not scope.events or not scope.complete or scope.last_leaf is None:
        return None
    checkpoint = Checkpoint.objects.order_by("-id").first()
    return checkpoint if checkpoint is not None and checkpoint.tree_size > scope.last_leaf else None


def _requester(ctx: ReportContext) -> str:
    user = ctx.user
    if user is None:
        return _("Command line (authority tier)")
    organisation = getattr(user, "organisation", None)
    if ctx.anonymised:
        return organisation.name if organisation is not None else ""
    name = user.get_full_name() or user.get_username()
    return f"{name} · {organisation.name}" if organisation is not None else name


def cover_context(ctx: ReportContext, generated: datetime) -> dict[str, Any]:
    scope = coverage(ctx)
    checkpoint = covering_checkpoint(scope)
    return {
        "generated_at": generated.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "requester": _requester(ctx),
        "batteries": len(ctx.battery_ids),
        "lots": len(ctx.lot_ids),
        "date_from": ctx.date_from.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if ctx.date_from else "",
        "date_to": ctx.date_to.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if ctx.date_to else "",
        "events": scope.events,
        "logged": scope.logged,
        "checkpoint": checkpoint,
        "checkpoint_root": base64.b64encode(bytes(checkpoint.root_hash)).decode("ascii")
        if checkpoint
        else "",
        "checkpoint_at": checkpoint.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if checkpoint
        else "",
        "anonymised": ctx.anonymised,
    }


# ---------------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------------
class PdfLayoutFailed(DomainError):
    """WeasyPrint could not lay out a chunk of the report, or a layout worker stopped."""

    default_code = "PDF_LAYOUT_FAILED"


@contextmanager
def _layout_errors() -> Iterator[None]:
    try:
        yield
    except ChunkFailed as error:
        logger.error("PDF layout failed: %s", error)
        raise PdfLayoutFailed(
            _("The PDF could not be laid out (%(reason)s).") % {"reason": str(error)[:300]}
        ) from error


def _pseudonym() -> Any:
    from crossborder.scrub import pseudonym  # the cross-border gate's keyed hash

    return pseudonym


def pdf_processes() -> int:
    """How many worker processes lay out a report's chunks (REPORT_PDF_PROCESSES; 0: none)."""
    configured = getattr(settings, "REPORT_PDF_PROCESSES", None)
    return max(0, configured) if configured is not None else os.cpu_count() or 1


def chunk_size(subjects: int, processes: int) -> int:
    """Subjects per chunk: at most `CHUNK`, and few enough that every worker gets several chunks."""
    if processes <= 1:
        return CHUNK
    return max(min(MIN_CHUNK, CHUNK), min(CHUNK, -(-subjects // (4 * processes))))


def layout_for(chunks: int, processes: int) -> InProcessLayout | WorkerLayout:
    """Worker processes when there is more than one chunk of subjects (the cover is one more); a
    smaller report is not worth starting them (half a second of CPU each)."""
    if processes < 1 or chunks < 2:
        return InProcessLayout()
    return WorkerLayout(min(processes, chunks + 1), cwd=str(settings.BASE_DIR))


def write_pdf(ctx: ReportContext, out: IO[bytes]) -> int:
    """Stream the PDF report of the scope to `out`; returns the number of pages.

    This process reads the subjects and renders each chunk's HTML while the workers lay out the chunks
    before it; the chunks come back in order and are written as they arrive.
    """
    pseudonym = _pseudonym() if ctx.anonymised else None
    processes = pdf_processes()
    size = chunk_size(ctx.subject_count, processes)
    chunks = -(-len(ctx.battery_ids) // size) + -(-len(ctx.lot_ids) // size)
    with translation.override(ctx.language), layout_for(chunks, processes) as layout:
        title = _("Custody report")
        generated = ctx.generated_at or timezone.now()
        base = {"title": title, "language": ctx.language, "anonymised": ctx.anonymised}
        pdf = PdfConcatenator(out, title=title, language=ctx.language)
        in_flight: deque[int] = deque()  # how many subjects each chunk in flight holds, oldest first
        done = 0

        def tick(subjects: int) -> None:
            nonlocal done
            for _subject in range(subjects):
                done += 1
                ctx.tick(done)

        def write_oldest() -> None:
            with _layout_errors():
                chunk = layout.take()
            cache_qr_images(chunk.qr_images)
            pdf.add(chunk)
            tick(in_flight.popleft())

        def submit(template: str, context: dict[str, Any], subjects: int) -> None:
            html = render_to_string(template, {**base, **context})
            while layout.full:
                write_oldest()
            with _layout_errors():
                layout.submit(html)
            in_flight.append(subjects)

        submit("reports/pdf/cover.html", cover_context(ctx, generated), 0)
        for kind, ids in (("battery", ctx.battery_ids), ("lot", ctx.lot_ids)):
            for batch in _chunks(ids, size):
                subjects = (
                    battery_subjects(ctx, batch, pseudonym) if kind == "battery" else lot_subjects(ctx, batch)
                )
                if subjects:
                    submit("reports/pdf/subjects.html", {"subjects": subjects}, len(batch))
                elif in_flight:  # gone since the scope was resolved: counted with the chunk before
                    in_flight[-1] += len(batch)
                else:
                    tick(len(batch))
        while in_flight:
            write_oldest()
        pdf.close()
    return pdf.pages
