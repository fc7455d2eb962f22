"""The lawful-origin trace of a material lot: every battery and lot it came from, their OEMs, every site
and licence on the way. A recursive query (PostgreSQL and SQLite alike) walks the inputs of events
backwards, so the whole trace costs a fixed number of queries however deep the history goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q

from custody.events.models import CustodyEvent, EventInput
from custody.lots.models import MaterialLot
from licensing.models import Facility, Licence, LicenceEvent
from licensing.selectors import flagged_by_revocation, revocations_of
from passport.models import Battery


def reachable_subjects(*, lot_ids: list[int] = (), battery_ids: list[int] = ()) -> tuple[set[int], set[int]]:
    """(battery ids, lot ids) reachable backwards through event inputs from the given subjects, included."""
    quote = connection.ops.quote_name
    events = quote(CustodyEvent._meta.db_table)
    inputs = quote(EventInput._meta.db_table)
    seeds = [("lot", pk) for pk in lot_ids] + [("battery", pk) for pk in battery_ids]
    if not seeds:
        return set(), set()
    seed_sql = " UNION ".join(["SELECT CAST(%s AS TEXT), CAST(%s AS BIGINT)"] * len(seeds))
    sql = f"""
        WITH RECURSIVE reach(kind, subject_id) AS (
            {seed_sql}
          UNION
            SELECT CASE WHEN i.input_battery_id IS NULL THEN 'lot' ELSE 'battery' END,
                   COALESCE(i.input_battery_id, i.input_lot_id)
            FROM reach r
            JOIN {events} e
              ON (r.kind = 'battery' AND e.battery_id = r.subject_id)
              OR (r.kind = 'lot' AND e.lot_id = r.subject_id)
            JOIN {inputs} i ON i.event_id = e.id
        )
        SELECT kind, subject_id FROM reach
    """
    params = [value for seed in seeds for value in seed]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    batteries = {int(pk) for kind, pk in rows if kind == "battery"}
    lots = {int(pk) for kind, pk in rows if kind == "lot"}
    return batteries, lots


@dataclass(frozen=True)
class TraceSite:
    facility: Facility
    organisation: str
    first_at: datetime
    last_at: datetime
    activities: tuple[str, ...]


@dataclass(frozen=True)
class TraceLicence:
    licence: Licence
    facility: Facility
    steps: int
    flagged_steps: int  # steps a revocation recorded later reaches back over
    revocation: LicenceEvent | None


@dataclass(frozen=True)
class LotTrace:
    """Where a lot came from: input batteries with their OEMs, lots on the way, sites and licences."""

    lot: MaterialLot
    batteries: tuple[Battery, ...]
    lots: tuple[MaterialLot, ...]
    sites: tuple[TraceSite, ...]
    licences: tuple[TraceLicence, ...]
    event_count: int
    unlicensed_steps: int

    @property
    def oems(self) -> tuple[str, ...]:
        return tuple(sorted({battery.oem.name for battery in self.batteries}))

    @property
    def lawful(self) -> bool:
        """Every licensed step was covered then, and no later revocation reaches back over one."""
        return self.unlicensed_steps == 0 and not any(item.flagged_steps for item in self.licences)


def lot_trace(lot: MaterialLot) -> LotTrace:
    """The full lawful-origin trace of a lot, in five queries whatever its depth."""
    battery_ids, lot_ids = reachable_subjects(lot_ids=[lot.pk])
    batteries = tuple(
        Battery.objects.filter(pk__in=battery_ids).select_related("oem", "battery_model").order_by("code")
    )
    lots = tuple(MaterialLot.objects.filter(pk__in=lot_ids - {lot.pk}).order_by("produced_at", "code"))
    events = list(
        CustodyEvent.objects.filter(Q(battery_id__in=battery_ids) | Q(lot_id__in=lot_ids))
        .select_related("actor", "facility", "licence__facility")
        .order_by("occurred_at", "id")
    )
    revocations = revocations_of(
        licence_ids=sorted({event.licence_id for event in events if event.licence_id})
    )
    sites: dict[int, dict[str, object]] = {}
    licences: dict[int, dict[str, object]] = {}
    unlicensed = 0
    for event in events:
        if event.facility_id is not None:
            site = sites.setdefault(
                event.facility_id,
                {
                    "facility": event.facility,
                    "organisation": event.actor.name,
                    "first_at": event.occurred_at,
                    "last_at": event.occurred_at,
                    "activities": [],
                },
            )
            site["last_at"] = event.occurred_at
            if event.activity and event.activity not in site["activities"]:
                site["activities"].append(event.activity)
        if event.activity and (event.licence_id is None or event.licence_status != "active"):
            unlicensed += 1
        if event.licence_id is not None:
            revocation = revocations.get(event.licence_id)
            entry = licences.setdefault(
                event.licence_id,
                {"licence": event.licence, "facility": event.licence.facility, "steps": 0, "flagged": 0},
            )
            entry["steps"] += 1
            if flagged_by_revocation(
                revocation=revocation, occurred_at=event.occurred_at, recorded_at=event.recorded_at
            ):
                entry["flagged"] += 1
    return LotTrace(
        lot=lot,
        batteries=batteries,
        lots=lots,
        sites=tuple(
            TraceSite(
                facility=site["facility"],
                organisation=site["organisation"],
                first_at=site["first_at"],
                last_at=site["last_at"],
                activities=tuple(site["activities"]),
            )
            for site in sites.values()
        ),
        licences=tuple(
            TraceLicence(
                licence=entry["licence"],
                facility=entry["facility"],
                steps=entry["steps"],
                flagged_steps=entry["flagged"],
                revocation=revocations.get(licence_id),
            )
            for licence_id, entry in licences.items()
        ),
        event_count=len(events),
        unlicensed_steps=unlicensed,
    )
