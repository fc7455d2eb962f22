"""Which step may follow which: one table per battery status and one per lot status.

A step absent from the row of the subject's current status is refused with ILLEGAL_TRANSITION. The
value is the status the subject has afterwards (KEEP: unchanged). `registered` and `lot_created`
only ever open a chain, so they are in no row.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from custody.errors import IllegalTransition
from custody.events.models import EventType
from custody.lots.models import MaterialLot
from passport.models import Battery

KEEP = "keep"

_B = Battery.Status
_L = MaterialLot.Status
_E = EventType

# What a custodian may do with a unit it holds for processing (status in_custody or graded).
_PROCESSING = {
    _E.GRADED: _B.GRADED,
    _E.DISMANTLED: _B.DISMANTLED,
    _E.REPURPOSED: _B.REPURPOSED,
    _E.RECYCLED: _B.RECYCLED,
    _E.DISPOSED: _B.DISPOSED,
}
# A pending transfer's outcomes; the transfer service also requires the open offer itself.
_HANDOVER = {
    _E.TRANSFER_INITIATED: KEEP,
    _E.TRANSFER_REJECTED: KEEP,
    _E.TRANSFER_EXPIRED: KEEP,
    _E.TRANSFER_CANCELLED: KEEP,
}
# Before any recycler held it: the OEM's or a user's battery.
_BEFORE_CUSTODY = {
    _E.INTAKE: _B.IN_CUSTODY,
    **_HANDOVER,
    _E.TRANSFER_ACCEPTED: _B.IN_CUSTODY,
}

BATTERY_TRANSITIONS: dict[str, dict[str, str]] = {
    _B.REGISTERED: {_E.RETIRED: _B.RETIRED, **_BEFORE_CUSTODY},
    _B.IN_USE: {_E.RETIRED: _B.RETIRED, **_BEFORE_CUSTODY},
    _B.RETIRED: dict(_BEFORE_CUSTODY),
    _B.IN_CUSTODY: {**_PROCESSING, **_HANDOVER, _E.TRANSFER_ACCEPTED: KEEP},
    _B.GRADED: {**_PROCESSING, **_HANDOVER, _E.TRANSFER_ACCEPTED: KEEP},
    _B.DISMANTLED: {},
    _B.REPURPOSED: {},
    _B.RECYCLED: {},
    _B.DISPOSED: {},
}

LOT_TRANSITIONS: dict[str, dict[str, str]] = {
    _L.ACTIVE: {
        _E.LOT_SPLIT: _L.SPLIT,
        _E.LOT_MERGED: _L.MERGED,
        _E.RECYCLED: _L.CONSUMED,
        _E.EXPORTED: _L.EXPORTED,
        _E.DISPOSED: _L.DISPOSED,
        **_HANDOVER,
        _E.TRANSFER_ACCEPTED: KEEP,
    },
    _L.SPLIT: {},
    _L.MERGED: {},
    _L.CONSUMED: {},
    _L.EXPORTED: {},
    _L.DISPOSED: {},
}

# Packs and modules come apart; a cell does not.
DISMANTLABLE_PRODUCT_TYPES = frozenset({"P", "M"})


def allowed_steps(subject: Battery | MaterialLot) -> list[str]:
    """The steps the subject's current status allows, in the table's order."""
    table = BATTERY_TRANSITIONS if isinstance(subject, Battery) else LOT_TRANSITIONS
    steps = list(table.get(subject.status, {}))
    if isinstance(subject, Battery) and subject.product_type not in DISMANTLABLE_PRODUCT_TYPES:
        steps = [step for step in steps if step != _E.DISMANTLED]
    return steps


def next_status(subject: Battery | MaterialLot, step: str) -> str:
    """The subject's status after `step`, or ILLEGAL_TRANSITION saying why it may not happen now."""
    is_battery = isinstance(subject, Battery)
    table = BATTERY_TRANSITIONS if is_battery else LOT_TRANSITIONS
    outcome = table.get(subject.status, {}).get(step)
    if outcome is None:
        allowed = ", ".join(str(EventType(value).label) for value in allowed_steps(subject)) or _("none")
        raise IllegalTransition(
            _("%(code)s is %(status)s: it cannot be %(step)s now (possible steps: %(allowed)s).")
            % {
                "code": subject.code,
                "status": subject.get_status_display(),
                "step": EventType(step).label,
                "allowed": allowed,
            },
            field="type",
        )
    if is_battery and step == _E.DISMANTLED and subject.product_type not in DISMANTLABLE_PRODUCT_TYPES:
        raise IllegalTransition(
            _("%(code)s is a cell: only packs and modules can be dismantled.") % {"code": subject.code},
            field="type",
        )
    return subject.status if outcome == KEEP else outcome
