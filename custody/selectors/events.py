"""Reads of custody events: a battery's or lot's chain with proof status, a step's outcome, the timeline."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db.models import IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from custody.events.models import CustodyEvent, EventInput
from custody.lots.models import MaterialLot
from custody.transparency.models import Checkpoint, LogLeaf
from licensing.models import LicenceEvent
from licensing.selectors import flagged_by_revocation, revocations_of
from passport.models import Battery


def with_proof_status(events: QuerySet[CustodyEvent]) -> QuerySet[CustodyEvent]:
    """Annotate each event's leaf index (None: not yet sequenced) and the latest checkpoint's size."""
    leaf = LogLeaf.objects.filter(event_hash=OuterRef("hash")).values("index")[:1]
    latest = Checkpoint.objects.order_by("-id").values("tree_size")[:1]
    return events.annotate(
        leaf_index=Subquery(leaf, output_field=IntegerField()),
        checkpoint_size=Coalesce(Subquery(latest, output_field=IntegerField()), 0),
    )


def events_of(subject: Battery | MaterialLot) -> QuerySet[CustodyEvent]:
    """The subject's chain in order, with what the API and pages show of each event."""
    events = CustodyEvent.objects.filter(
        **({"battery": subject} if isinstance(subject, Battery) else {"lot": subject})
    )
    return (
        with_proof_status(events)
        .select_related("actor", "facility", "licence", "transfer", "battery", "lot")
        .prefetch_related(
            "snapshots",
            Prefetch(
                "inputs",
                queryset=EventInput.objects.select_related("input_battery", "input_lot", "input_event"),
            ),
            Prefetch(
                "consumed_by",
                queryset=EventInput.objects.select_related("event__battery", "event__lot"),
            ),
        )
        .order_by("seq")
    )


def produced_from(event: CustodyEvent) -> list[dict[str, str]]:
    """The subjects whose events consumed `event` (a dismantling's components, a recycling's lots)."""
    rows = EventInput.objects.filter(input_event=event).select_related("event__battery", "event__lot")
    produced = []
    for row in rows.order_by("event_id"):
        subject = row.event.battery or row.event.lot
        kind = "battery" if row.event.battery_id else "lot"
        produced.append({"kind": kind, "code": subject.code, "event_hash": bytes(row.event.hash).hex()})
    return produced


def produced_list(event: CustodyEvent) -> list[dict[str, str]]:
    """`produced_from` over the prefetched `consumed_by` rows (no query)."""
    produced = []
    for row in event.consumed_by.all():
        subject = row.event.battery or row.event.lot
        produced.append(
            {
                "kind": "battery" if row.event.battery_id else "lot",
                "code": subject.code,
                "event_hash": bytes(row.event.hash).hex(),
            }
        )
    return produced


@dataclass(frozen=True)
class TimelineEntry:
    """One event as the timeline shows it: where, under which licence, with what proof."""

    event: CustodyEvent
    data: dict[str, Any]
    revoked_later: LicenceEvent | None
    produced: list[dict[str, str]] = field(default_factory=list)

    @property
    def in_log(self) -> bool:
        return self.event.leaf_index is not None

    @property
    def in_checkpoint(self) -> bool:
        return self.in_log and self.event.leaf_index < self.event.checkpoint_size

    @property
    def flagged(self) -> bool:
        return self.revoked_later is not None


def timeline(subject: Battery | MaterialLot) -> list[TimelineEntry]:
    """Every event of the subject with its site, licence then, later revocation flag and proof status."""
    events = list(events_of(subject))
    revocations = revocations_of(
        licence_ids=sorted({event.licence_id for event in events if event.licence_id})
    )
    entries = []
    for event in events:
        revocation = revocations.get(event.licence_id) if event.licence_id else None
        flagged = flagged_by_revocation(
            revocation=revocation, occurred_at=event.occurred_at, recorded_at=event.recorded_at
        )
        entries.append(
            TimelineEntry(
                event=event,
                data=json.loads(event.body)["data"],
                revoked_later=revocation if flagged else None,
                produced=produced_list(event),
            )
        )
    return entries
