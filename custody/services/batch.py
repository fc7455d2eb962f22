"""Many intakes at one site in one transaction, set-based: the batch behind the CSV intake.

The rules are those of `record_intake`, checked for every item before anything is written; the rows
are read, locked (in code order), checked and written with a handful of statements per thousand items
instead of a handful per item. The first refusal raises, naming the item; nothing is written then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, InvalidInput
from custody.errors import SubjectNotFound
from custody.events.chain import (
    Actor,
    ChainHead,
    actor_for,
    build_event,
    check_after_head,
    normalised_code,
    occurred_instant,
    own_facility,
    write_events,
)
from custody.events.licences import licence_for
from custody.events.machine import next_status
from custody.events.models import CustodyEvent, EventType
from custody.services.guard import translate_conflicts
from custody.services.steps import check_intake_holder
from custody.transfers.models import Transfer
from licensing.models import Activity, Facility
from passport.models import Battery
from passport.selectors import forget_public_page

CHUNK = 1000
MAX_ITEMS = 50_000


@dataclass(frozen=True)
class IntakeItem:
    """One battery of a batch intake: its code, when it was taken in (default: now) and a note."""

    code: str
    occurred_at: datetime | None = None
    note: str = ""


def _chunks(values: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _lock(codes: list[str]) -> dict[str, Battery]:
    """Lock the batteries in code order (the order every multi-row step uses, so none deadlocks)."""
    table = connection.ops.quote_name(Battery._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found: dict[str, Battery] = {}
    for chunk in _chunks(sorted(codes)):
        placeholders = ", ".join(["%s"] * len(chunk))
        sql = f"SELECT * FROM {table} WHERE code IN ({placeholders}) ORDER BY code{lock}"
        found.update({battery.code: battery for battery in Battery.objects.raw(sql, list(chunk))})
    return found


def _heads(battery_ids: list[int]) -> dict[int, ChainHead]:
    """The chain head of every battery (read after the locks), one query per thousand."""
    heads: dict[int, ChainHead] = {}
    for chunk in _chunks(battery_ids):
        latest = (
            CustodyEvent.objects.filter(battery_id__in=chunk)
            .order_by("battery_id", "-seq")
            .values_list("battery_id", "seq", "hash", "occurred_at")
        )
        for battery_id, seq, digest, occurred_at in latest:
            heads.setdefault(battery_id, ChainHead(seq, bytes(digest), occurred_at))
    return heads


@translate_conflicts
@transaction.atomic
def record_intakes(
    *,
    by: Any,
    facility: Facility | int | None,
    items: Sequence[IntakeItem],
    actor: Actor | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[CustodyEvent]:
    """Take many batteries in at one of the actor's licensed sites: all of them, or none."""
    actor = actor or actor_for(by)
    if not items:
        raise InvalidInput(_("Name at least one battery."), code="ITEMS_REQUIRED", field="items")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(
            _("At most %(max)d batteries at once.") % {"max": MAX_ITEMS}, code="TOO_MANY_ITEMS", field="items"
        )
    site = own_facility(actor, facility)
    codes: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        code = normalised_code(item.code)
        if code in seen:
            raise InvalidInput(
                _("%(code)s is listed twice (items %(first)d and %(again)d).")
                % {"code": code, "first": seen[code], "again": index},
                code="DUPLICATE_IN_REQUEST",
                field=f"items[{index}].code",
            )
        seen[code] = index
        codes.append(code)
    locked = _lock(codes)
    for index, code in enumerate(codes):
        field = f"items[{index}].code"
        battery = locked.get(code)
        if battery is None:
            raise SubjectNotFound(
                _("No battery is registered under %(code)s.") % {"code": code},
                code="BATTERY_NOT_FOUND",
                field=field,
            )
        try:
            check_intake_holder(battery, actor.organisation)
            next_status(battery, EventType.INTAKE)
        except DomainError as error:
            error.field = field
            raise
    batteries = [locked[code] for code in codes]
    ids = [battery.pk for battery in batteries]
    pending = set()
    for chunk in _chunks(ids):
        pending.update(
            Transfer.objects.pending().filter(battery_id__in=chunk).values_list("battery_id", flat=True)
        )
    heads = _heads(ids)
    events = []
    for index, (item, battery) in enumerate(zip(items, batteries, strict=True)):
        if battery.pk in pending:
            raise Conflict(
                _("%(code)s is offered to another organisation; answer or cancel that transfer first.")
                % {"code": battery.code},
                code="TRANSFER_PENDING",
                field=f"items[{index}].code",
            )
        when = occurred_instant(item.occurred_at, actor, field=f"items[{index}].occurred_at")
        head = heads.get(battery.pk)
        try:
            check_after_head(battery, head, when)
        except DomainError as error:
            error.field = f"items[{index}].occurred_at"
            raise
        licence = licence_for(site, Activity.INTAKE, when)
        events.append(
            build_event(
                subject=battery,
                type=EventType.INTAKE,
                actor=actor,
                occurred_at=when,
                head=head,
                facility=site,
                activity=Activity.INTAKE,
                licence=licence,
                data={"note": item.note},
            )
        )
        if on_progress and index % CHUNK == 0:
            on_progress(index)
    created = write_events(events)
    for chunk in _chunks(ids):
        Battery.objects.filter(pk__in=chunk).update(
            status=Battery.Status.IN_CUSTODY, current_custodian=actor.organisation
        )
    transaction.on_commit(lambda: [forget_public_page(code) for code in codes])
    return created
