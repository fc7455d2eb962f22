"""What every step service shares: the outcome type, snapshot lookup, pending-offer refusal, masses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, NotFound
from custody.events.body import instant
from custody.events.models import CustodyEvent
from custody.lots.models import MaterialLot
from custody.transfers.models import Transfer
from passport.models import Battery
from passport.snapshots.models import Snapshot

GRAM = Decimal("0.001")
MAX_MASS = Decimal("99999999999.999")


@dataclass(frozen=True)
class Outcome:
    """What a step recorded: its principal event, and whether this was a replay of an earlier request."""

    event: CustodyEvent
    replayed: bool = False


def requested_when(occurred_at: datetime | None) -> str | None:
    """A request's `occurred_at` as its idempotency fingerprint holds it (None when not given)."""
    return instant(occurred_at) if occurred_at is not None else None


def snapshots_of(battery: Battery, payload_hashes: Sequence[str] | None) -> list[Snapshot]:
    """The battery's snapshots named by payload hash; an unknown hash or another battery's is refused."""
    wanted = [str(value).strip().lower() for value in (payload_hashes or [])]
    if not wanted:
        return []
    found = {
        snapshot.payload_hash: snapshot
        for snapshot in Snapshot.objects.filter(battery=battery, payload_hash__in=set(wanted))
    }
    for index, value in enumerate(wanted):
        if value not in found:
            raise NotFound(
                _("%(code)s has no signed snapshot with payload hash %(hash)s.")
                % {"code": battery.code, "hash": value[:64]},
                code="SNAPSHOT_NOT_FOUND",
                field=f"snapshots[{index}]",
            )
    return list(dict.fromkeys(found[value] for value in wanted))


def refuse_if_transfer_pending(subject: Battery | MaterialLot, *, field: str = "code") -> None:
    """While an offer to hand the subject over is open, nothing else happens to it."""
    lookup = {"battery": subject} if isinstance(subject, Battery) else {"lot": subject}
    pending = Transfer.objects.pending().filter(**lookup).select_related("to_organisation").first()
    if pending is not None:
        raise Conflict(
            _("%(code)s is offered to %(receiver)s (transfer %(id)d); accept, reject or cancel that first.")
            % {"code": subject.code, "receiver": pending.to_organisation.name, "id": pending.pk},
            code="TRANSFER_PENDING",
            field=field,
        )


def mass(value: Any, *, field: str, allow_zero: bool = False) -> Decimal:
    """A mass in kg, exact to the gram: a decimal with at most three places, positive (or zero)."""
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(
            _("%(field)s must be a mass in kg, such as 12.500.") % {"field": field},
            code="MASS_INVALID",
            field=field,
        ) from None
    if not number.is_finite() or number < 0 or (number == 0 and not allow_zero) or number > MAX_MASS:
        raise InvalidInput(
            _("%(field)s must be a positive mass in kg.") % {"field": field}, code="MASS_INVALID", field=field
        )
    if number != number.quantize(GRAM):
        raise InvalidInput(
            _("%(field)s is given to less than a gram (%(value)s kg); masses are kept to the gram.")
            % {"field": field, "value": value},
            code="MASS_PRECISION",
            field=field,
        )
    return number.quantize(GRAM)


def text(value: Any, *, field: str, max_length: int, required: bool = False) -> str:
    cleaned = str(value or "").strip()
    if required and not cleaned:
        raise InvalidInput(_("%(field)s is required.") % {"field": field}, code="REQUIRED", field=field)
    if len(cleaned) > max_length:
        raise InvalidInput(
            _("%(field)s is at most %(max)d characters.") % {"field": field, "max": max_length},
            code="TOO_LONG",
            field=field,
        )
    return cleaned
