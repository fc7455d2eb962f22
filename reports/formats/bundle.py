"""The verification bundle report: `custody.bundle` (voltrace.custody-bundle/1), streamed to the file.

The bundle holds whole custody chains (a date range selects subjects, never cuts a chain, since the
verifier checks every chain link), with inclusion proofs to a signed checkpoint, the signed snapshots
the events rely on (payloads only for batteries the requester reads at the authority tier) and the
licences. `python -m custody.verify FILE --log-key KEY` checks it offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, cast

from custody.bundle import BundleScope, iter_bundle, prepare_bundle
from custody.lots.models import MaterialLot
from passport.models import Battery
from reports.formats.base import ReportContext

CHUNK = 2_000
EVENTS_SECTION_END = '\n],\n"snapshots": [\n'
EVENT_START = '{"hash": "'  # how each event entry of the stream opens; cannot occur inside JSON strings


@dataclass(frozen=True)
class _Subject:
    """What the bundle needs of a subject (its id and code), without loading the whole row."""

    pk: int
    code: str


def _subjects(model: Any, ids: Sequence[int]) -> list[_Subject]:
    subjects: list[_Subject] = []
    for start in range(0, len(ids), CHUNK):
        codes = dict(model.objects.filter(pk__in=ids[start : start + CHUNK]).values_list("pk", "code"))
        subjects.extend(_Subject(pk, codes[pk]) for pk in ids[start : start + CHUNK] if pk in codes)
    return subjects


def write_bundle(ctx: ReportContext, out: IO[bytes]) -> int:
    """Write the bundle to `out`; returns the number of events in it."""
    scope = BundleScope(
        batteries=cast(list[Battery], _subjects(Battery, ctx.battery_ids)),
        lots=cast(list[MaterialLot], _subjects(MaterialLot, ctx.lot_ids)),
    )
    prepared = prepare_bundle(scope)
    total_events = max(prepared.event_count, 1)
    subjects = ctx.subject_count
    events_done = 0
    in_events = True
    for chunk in iter_bundle(prepared, reader=ctx.user, generated_at=ctx.generated_at):
        out.write(chunk.encode("utf-8"))
        if in_events:
            if chunk == EVENTS_SECTION_END:
                in_events = False
                continue
            events_done += chunk.count(EVENT_START)
            # Events come subject by subject: the share of events written is the share of subjects done.
            ctx.tick(subjects * min(events_done, total_events) // total_events)
    ctx.tick(subjects)
    return prepared.event_count
