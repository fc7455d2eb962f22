"""Constructing what the checklist reads: custody steps with or without cover, snapshots, rotations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from custody.events.chain import Actor, append_event, chain_head
from custody.events.models import CustodyEvent
from licensing.models import Facility, Licence
from passport.models import Battery


def step(
    battery: Battery,
    facility: Facility,
    *,
    at: datetime,
    activity: str = "intake",
    licence: Licence | None = None,
    recorded_at: datetime | None = None,
) -> CustodyEvent:
    """A custody step of `battery` at `facility`, covered by `licence` (None: recorded without cover)."""
    actor = Actor(organisation=facility.organisation, user=None, now=recorded_at or at)
    return append_event(
        subject=battery,
        type="intake",
        actor=actor,
        occurred_at=at,
        head=chain_head(battery),
        facility=facility,
        activity=activity,
        licence=licence,
        forget_page=False,
    )


def point(checklist: Any, number: int) -> Any:
    """The checklist's point `number` (1 to 5)."""
    return checklist.points[number - 1]
