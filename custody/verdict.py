"""What custody tells the passport: two verdict reasons, the public custody summary, legitimate interest.

Registered from `CustodyConfig.ready` (passport never imports custody). The verdict reasons and the
summary read one set of facts, fetched in a single query per battery: the events of the battery and of
the units it came from (the pack it was dismantled out of, the original it was re-coded from), each
with its log leaf, the latest checkpoint's size and whether a revocation recorded later reaches back
over its licence. The public page therefore costs one query for custody, whatever the history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Organisation
from core.db import PreparedRows
from custody.events.models import CustodyEvent
from custody.selectors.events import with_proof_status
from custody.transfers.models import Transfer
from licensing.models import LicenceEvent
from passport.models import Battery
from passport.summary import CustodyStep, CustodySummary
from passport.verdict import FAILED, PASSED, UNAVAILABLE, CheckResult

_CACHE = "_custody_facts"


@dataclass(frozen=True)
class EventFact:
    battery_id: int
    seq: int
    type: str
    hash: bytes
    prev_hash: bytes | None
    body: str
    occurred_at: datetime
    actor: str
    facility: str
    activity: str
    licence_id: int | None
    licence_status: str
    revoked_later: bool
    leaf_index: int | None
    checkpoint_size: int


def _lineage(battery: Battery) -> list[int]:
    return [pk for pk in (battery.pk, battery.parent_id, battery.original_id) if pk]


def custody_facts(battery: Battery) -> list[EventFact]:
    """The events of the battery and of the units it came from, in one query."""
    return _facts_of(_lineage(battery))


def prefetch_custody_facts(batteries: Iterable[Battery], *, at: datetime) -> None:
    """Read the facts of many batteries in one query, for their verdicts at `at` (a report's chunk)."""
    chunk = list(batteries)
    by_battery: dict[int, list[EventFact]] = {}
    for fact in _facts_of(sorted({pk for battery in chunk for pk in _lineage(battery)})):
        by_battery.setdefault(fact.battery_id, []).append(fact)
    for battery in chunk:
        facts = [fact for pk in sorted(_lineage(battery)) for fact in by_battery.get(pk, [])]
        battery.__dict__[_CACHE] = (at, facts)


def _facts_of(lineage: list[int]) -> list[EventFact]:
    """The events of these batteries, ordered by battery and sequence number."""
    if len(lineage) <= _LINEAGE_SIZE:
        # One battery's lineage (the scan page): the same statement every time, prepared; the list is
        # padded by repeating an id, which changes nothing.
        padded = [*lineage, *[lineage[0]] * (_LINEAGE_SIZE - len(lineage))]
        rows = _lineage_facts.rows(*padded)
    else:
        rows = list(_facts_query(lineage))
    return [
        EventFact(
            battery_id=row[0],
            seq=row[1],
            type=row[2],
            hash=bytes(row[3]),
            prev_hash=bytes(row[4]) if row[4] is not None else None,
            body=row[5],
            occurred_at=row[6],
            actor=row[7],
            facility=row[8] or "",
            activity=row[9],
            licence_id=row[10],
            licence_status=row[11],
            revoked_later=bool(row[12]),
            leaf_index=row[13],
            checkpoint_size=int(row[14] or 0),
        )
        for row in rows
    ]


def _facts_query(lineage: list[int]) -> Any:
    revoked_later = LicenceEvent.objects.filter(
        licence=OuterRef("licence_id"),
        kind=LicenceEvent.Kind.REVOKED,
        effective_at__lte=OuterRef("occurred_at"),
        recorded_at__gt=OuterRef("recorded_at"),
    )
    return (
        with_proof_status(CustodyEvent.objects.filter(battery_id__in=lineage))
        .annotate(revoked_later=Exists(revoked_later))
        .order_by("battery_id", "seq")
        .values_list(
            "battery_id",
            "seq",
            "type",
            "hash",
            "prev_hash",
            "body",
            "occurred_at",
            "actor__name",
            "facility__name",
            "activity",
            "licence_id",
            "licence_status",
            "revoked_later",
            "leaf_index",
            "checkpoint_size",
        )
    )


# A battery, the pack it was dismantled out of and the original it was re-coded from.
_LINEAGE_SIZE = 3
_lineage_facts = PreparedRows(lambda *ids: _facts_query(list(ids)), placeholders=(-1, -2, -3))


def _facts(battery: Battery, at: datetime | None) -> list[EventFact]:
    # The verdict asks twice for the same instant and the summary right after: one query serves all
    # three. The summary takes the facts away, so a later verdict on the same object reads afresh.
    cached = battery.__dict__.get(_CACHE)
    if cached is not None and (at is None or cached[0] == at):
        if at is None:
            battery.__dict__.pop(_CACHE, None)
        return cached[1]
    facts = custody_facts(battery)
    if at is not None:
        battery.__dict__[_CACHE] = (at, facts)
    return facts


def _relevant(battery: Battery, facts: list[EventFact]) -> list[EventFact]:
    """The battery's own events and, of its parent or original, those up to the step that made it."""
    own = [fact for fact in facts if fact.battery_id == battery.pk]
    ancestors = [fact for fact in facts if fact.battery_id != battery.pk]
    return ancestors + own


# ---------------------------------------------------------------------------------------------------
# Verdict reasons
# ---------------------------------------------------------------------------------------------------
def check_licensed_sites(battery: Battery, at: datetime) -> CheckResult:
    """Passed when every step that needs a licence was covered then and no later revocation reaches it."""
    steps = [fact for fact in _relevant(battery, _facts(battery, at)) if fact.activity]
    if not steps:
        return CheckResult(UNAVAILABLE, _("No custody step at a licensed site is on record yet."))
    for fact in steps:
        day = f"{fact.occurred_at:%Y-%m-%d}"
        if fact.licence_id is None or fact.licence_status != "active":
            return CheckResult(
                FAILED,
                _("%(site)s of %(organisation)s was not licensed for %(activity)s on %(day)s.")
                % {"site": fact.facility, "organisation": fact.actor, "activity": fact.activity, "day": day},
            )
        if fact.revoked_later:
            return CheckResult(
                FAILED,
                _(
                    "The licence of %(site)s covering its %(activity)s on %(day)s was later revoked with "
                    "effect from before that day."
                )
                % {"site": fact.facility, "activity": fact.activity, "day": day},
            )
    sites = {fact.facility for fact in steps}
    return CheckResult(
        PASSED,
        ngettext(
            "%(count)d custody step at %(sites)d site, covered by a licence in force at the time.",
            "%(count)d custody steps at %(sites)d site(s), each covered by a licence in force at the time.",
            len(steps),
        )
        % {"count": len(steps), "sites": len(sites)},
    )


def chain_break(facts: list[EventFact]) -> str | None:
    """The first broken link among the facts (grouped per battery), described; None if all link up."""
    previous: EventFact | None = None
    for fact in facts:
        expected_seq = previous.seq + 1 if previous and previous.battery_id == fact.battery_id else 0
        expected_prev = previous.hash if previous and previous.battery_id == fact.battery_id else None
        label = {"seq": fact.seq, "type": fact.type}
        if fact.seq != expected_seq:
            return _("Event #%(seq)d (%(type)s) follows a gap in the chain.") % label
        if fact.prev_hash != expected_prev:
            return _("Event #%(seq)d (%(type)s) does not link to the event before it.") % label
        if hashlib.sha256(fact.body.encode("utf-8")).digest() != fact.hash:
            return _("Event #%(seq)d (%(type)s) no longer matches its hash.") % label
        body = json.loads(fact.body)
        if body.get("seq") != fact.seq or body.get("type") != fact.type:
            return _("Event #%(seq)d (%(type)s) differs from the body that was hashed.") % label
        previous = fact
    return None


def check_chain_intact(battery: Battery, at: datetime) -> CheckResult:
    """Passed when every event links up by hash and a signed checkpoint of the log includes them all."""
    facts = _relevant(battery, _facts(battery, at))
    if not facts:
        return CheckResult(UNAVAILABLE, _("No custody events are recorded for this battery yet."))
    ordered = sorted(facts, key=lambda fact: (fact.battery_id, fact.seq))
    broken = chain_break(ordered)
    if broken:
        return CheckResult(FAILED, broken)
    pending = [fact for fact in facts if fact.leaf_index is None or fact.leaf_index >= fact.checkpoint_size]
    if pending:
        return CheckResult(
            UNAVAILABLE,
            ngettext(
                "The %(count)d events link up by hash; %(pending)d is not yet in a signed checkpoint of the "
                "transparency log.",
                "The %(count)d events link up by hash; %(pending)d are not yet in a signed checkpoint of the "
                "transparency log.",
                len(pending),
            )
            % {"count": len(facts), "pending": len(pending)},
        )
    return CheckResult(
        PASSED,
        ngettext(
            "%(count)d event links up by hash and is included in the log's signed checkpoint of %(size)d "
            "entries.",
            "%(count)d events link up by hash and are included in the log's signed checkpoint of %(size)d "
            "entries.",
            len(facts),
        )
        % {"count": len(facts), "size": facts[0].checkpoint_size},
    )


# ---------------------------------------------------------------------------------------------------
# Public custody summary
# ---------------------------------------------------------------------------------------------------
def custody_summary(battery: Battery) -> CustodySummary:
    """Which sites handled the battery (and the units it came from), in which month, licensed then."""
    facts = _relevant(battery, _facts(battery, None))
    if not facts:
        return CustodySummary(available=False, note=_("No custody events are recorded for this battery yet."))
    visits: dict[tuple[str, str, str, bool | None], list[str]] = {}
    for fact in sorted(facts, key=lambda fact: fact.occurred_at):
        if not fact.facility and fact.type != "registered":
            continue
        licensed = (fact.licence_status == "active" and not fact.revoked_later) if fact.activity else None
        # One line per site, month and licence answer, naming what was done there.
        activities = visits.setdefault((fact.actor, fact.facility, f"{fact.occurred_at:%Y-%m}", licensed), [])
        activity = fact.activity or fact.type
        if activity not in activities:
            activities.append(activity)
    steps = [
        CustodyStep(
            organisation=actor, facility=site, month=month, activity=", ".join(done), licensed=licensed
        )
        for (actor, site, month, licensed), done in visits.items()
    ]
    note = ""
    if any(fact.battery_id != battery.pk for fact in facts):
        note = _("Includes the history of the unit it came from.")
    return CustodySummary(available=True, steps=tuple(steps), note=note)


# ---------------------------------------------------------------------------------------------------
# Legitimate interest
# ---------------------------------------------------------------------------------------------------
def pending_transfer_interest(battery: Battery, organisation: Organisation, at: Any) -> bool:
    """Both parties to an open offer of the battery have legitimate interest in it."""
    return (
        Transfer.objects.filter(battery=battery, status=Transfer.Status.PENDING)
        .filter(Q(to_organisation=organisation) | Q(from_organisation=organisation))
        .exists()
    )
