"""The licence covering a step: licensing's own answer (`ensure_permitted`), kept while it cannot change.

`ensure_permitted` folds a facility's licence history in the database on every call (a few milliseconds,
the largest cost of a custody step). Its answer for an activity is constant between two consecutive
breakpoints of the facility's licences (a licence's start or end, an event's effective time, a
renewal's new end): `Licence.with_state` changes only there. So an answer is remembered, per process,
for the window between breakpoints it fell in, and reused for any instant in that window for as long as
the facility's history is the same: every call first reads the history's version (how many licence
events the facility has, the highest id, the latest recording time) in one indexed query, and a new
licence, suspension, revocation, renewal or scope change makes every remembered answer of the facility
void. Refusals are never remembered: they are asked again, so their message is always current.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from threading import Lock
from typing import Any

from django.db import connection

from licensing.models import Facility, Licence, LicenceEvent
from licensing.services import ensure_permitted

MAX_FACILITIES = 1024


@dataclass
class _History:
    version: tuple[Any, ...]
    breakpoints: list[datetime]
    answers: dict[tuple[str, int], Licence] = field(default_factory=dict)


_histories: OrderedDict[tuple[str, int], _History] = OrderedDict()
_lock = Lock()


def history_version_sql() -> str:
    """The query for the version of a facility's licence history; its one parameter is the facility id."""
    quote = connection.ops.quote_name
    events, licences = quote(LicenceEvent._meta.db_table), quote(Licence._meta.db_table)
    return (
        f"SELECT COUNT(*) AS n, MAX(e.{quote('id')}) AS last_id, MAX(e.{quote('recorded_at')}) AS last_at "
        f"FROM {events} e JOIN {licences} l ON l.{quote('id')} = e.{quote('licence_id')} "
        f"WHERE l.{quote('facility_id')} = %s"
    )


def history_version(row: tuple[Any, ...]) -> tuple[str, ...]:
    """The version of a facility's licence history from the (count, last id, last recording) row."""
    return tuple(str(value) for value in row)


def _version(facility_id: int) -> tuple[str, ...]:
    with connection.cursor() as cursor:
        cursor.execute(history_version_sql(), [facility_id])
        return history_version(cursor.fetchone())


def _breakpoints(facility_id: int) -> list[datetime]:
    points: set[datetime] = set()
    for starts_at, ends_at in Licence.objects.filter(facility_id=facility_id).values_list(
        "starts_at", "ends_at"
    ):
        points.add(starts_at)
        if ends_at:
            points.add(ends_at)
    for effective_at, new_ends_at in LicenceEvent.objects.filter(
        licence__facility_id=facility_id
    ).values_list("effective_at", "new_ends_at"):
        points.add(effective_at)
        if new_ends_at:
            points.add(new_ends_at)
    return sorted(points)


def licence_for(facility: Facility, activity: str, at: datetime) -> Licence:
    """The licence that covers `activity` at `facility` at `at`; LicenceError (its own code) if none."""
    key = (connection.alias, facility.pk)
    version = getattr(facility, "licence_history_version", None) or _version(facility.pk)
    with _lock:
        history = _histories.get(key)
        if history is not None and history.version == version:
            _histories.move_to_end(key)
    if history is None or history.version != version:
        history = _History(version=version, breakpoints=_breakpoints(facility.pk))
        with _lock:
            _histories[key] = history
            while len(_histories) > MAX_FACILITIES:
                _histories.popitem(last=False)
    window = bisect.bisect_right(history.breakpoints, at)
    remembered = history.answers.get((activity, window))
    if remembered is not None:
        return remembered
    licence = ensure_permitted(facility=facility, activity=activity, at=at)
    history.answers[(activity, window)] = licence
    return licence


def forget_all() -> None:
    """Drop every remembered answer (tests that rewrite history underneath use it)."""
    with _lock:
        _histories.clear()
