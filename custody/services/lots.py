"""Material lots: recycling batteries (or lots) into lots, splitting, merging, exporting, disposing.

Masses are Decimal kg kept to the gram. Every transformation balances exactly: the outputs plus the
declared losses equal the inputs, or the step is refused with MASS_BALANCE naming the difference.
Rows are locked in one order (batteries, then lots, each by code) so concurrent steps never deadlock.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import InvalidInput
from custody.errors import CustodyError, MassBalanceError
from custody.events.body import fingerprint, mass_text
from custody.events.chain import (
    Actor,
    ChainHead,
    Consumed,
    actor_for,
    append_event,
    check_after_head,
    clean_key,
    lock_battery,
    lock_lot,
    normalised_code,
    occurred_instant,
    open_head,
    own_facility,
    replayed,
    require_custodian,
)
from custody.events.licences import licence_for
from custody.events.machine import next_status
from custody.events.models import CustodyEvent, EventType
from custody.lots.models import Material, MaterialLot
from custody.services.common import GRAM, Outcome, mass, requested_when, text
from custody.services.guard import translate_conflicts
from licensing.models import Activity, Facility
from passport.models import Battery

MAX_ITEMS = 1000
LOT_PREFIX = "LOT-"


def new_lot_code() -> str:
    """A fresh lot code: LOT- and twelve characters of base32 (60 random bits)."""
    while True:
        code = LOT_PREFIX + base64.b32encode(secrets.token_bytes(8)).decode("ascii")[:12]
        if not MaterialLot.objects.filter(code=code).exists():
            return code


def _material(value: Any, *, field: str) -> str:
    if value not in Material.values:
        raise InvalidInput(
            _("Unknown material %(value)r; expected one of %(allowed)s.")
            % {"value": value, "allowed": ", ".join(Material.values)},
            code="MATERIAL_INVALID",
            field=field,
        )
    return str(value)


def _balance(*, inputs: Decimal, outputs: Decimal, losses: Decimal) -> None:
    """Outputs plus declared losses must equal the inputs to the gram."""
    accounted = outputs + losses
    if accounted == inputs:
        return
    difference = inputs - accounted
    context = {
        "inputs": mass_text(inputs),
        "outputs": mass_text(outputs),
        "losses": mass_text(losses),
        "accounted": mass_text(accounted),
        "difference": mass_text(abs(difference)),
    }
    if difference > 0:
        message = _(
            "The inputs weigh %(inputs)s kg, but the outputs (%(outputs)s kg) and declared losses "
            "(%(losses)s kg) make %(accounted)s kg: %(difference)s kg are unaccounted for."
        )
    else:
        message = _(
            "The outputs (%(outputs)s kg) and declared losses (%(losses)s kg) make %(accounted)s kg, "
            "%(difference)s kg more than the inputs (%(inputs)s kg)."
        )
    raise MassBalanceError(message % context, field="outputs")


def _rate(part: Decimal, whole: Decimal) -> str:
    return f"{(part / whole).quantize(Decimal('0.0001')):f}" if whole else "0"


@dataclass
class _Held:
    """A subject locked for a step, with its chain head and the mass it contributes."""

    subject: Battery | MaterialLot
    head: ChainHead | None
    mass_kg: Decimal
    status: str
    field: str


def _hold(
    subject: Battery | MaterialLot, step: str, actor: Actor, when: datetime, *, field: str, mass_kg: Decimal
) -> _Held:
    require_custodian(subject, actor, field=field)
    try:
        status = next_status(subject, step)
    except CustodyError as error:
        error.field = field
        raise
    head = open_head(subject, field=field)
    check_after_head(subject, head, when)
    return _Held(subject, head, mass_kg, status, field)


def _create_lot(
    *,
    actor: Actor,
    site: Facility,
    code: str,
    material: str,
    mass_kg: Decimal,
    when: datetime,
    inputs: list[Consumed],
    licence: Any,
    activity: str,
    data: dict[str, Any],
) -> tuple[MaterialLot, CustodyEvent]:
    lot = MaterialLot.objects.create(
        code=code,
        material=material,
        mass_kg=mass_kg,
        current_custodian=actor.organisation,
        facility=site,
        produced_by=actor.organisation,
        produced_at=when,
    )
    event = append_event(
        subject=lot,
        type=EventType.LOT_CREATED,
        actor=actor,
        occurred_at=when,
        head=None,
        facility=site,
        activity=activity,
        licence=licence,
        inputs=inputs,
        data={"material": material, "mass_kg": mass_text(mass_kg), **data},
    )
    return lot, event


def _set_status(subject: Battery | MaterialLot, status: str) -> None:
    subject.status = status
    subject.save(update_fields=["status"])


# ---------------------------------------------------------------------------------------------------
# Recycling
# ---------------------------------------------------------------------------------------------------
def _recycling_inputs(inputs: Sequence[dict[str, Any]]) -> list[tuple[int, str, str, Decimal | None]]:
    if not inputs:
        raise InvalidInput(
            _("Name what goes into the recycling step."), code="INPUTS_REQUIRED", field="inputs"
        )
    if len(inputs) > MAX_ITEMS:
        raise InvalidInput(
            _("At most %(max)d inputs per step.") % {"max": MAX_ITEMS}, code="TOO_MANY_ITEMS", field="inputs"
        )
    cleaned = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(inputs):
        field = f"inputs[{index}]"
        kind = item.get("kind") or "battery"
        if kind not in ("battery", "lot"):
            raise InvalidInput(
                _("An input is a battery or a lot."), code="INPUT_KIND_INVALID", field=f"{field}.kind"
            )
        raw = str(item.get("code") or "")
        code = normalised_code(raw) if kind == "battery" else raw.strip().upper()
        if not code:
            raise InvalidInput(_("Give the input's code."), code="CODE_REQUIRED", field=f"{field}.code")
        if (kind, code) in seen:
            raise InvalidInput(
                _("%(code)s is listed twice.") % {"code": code},
                code="DUPLICATE_IN_REQUEST",
                field=f"{field}.code",
            )
        seen.add((kind, code))
        given = item.get("mass_kg")
        weight = None if given in (None, "") else mass(given, field=f"{field}.mass_kg")
        cleaned.append((index, kind, code, weight))
    return cleaned


def _recycling_outputs(outputs: Sequence[dict[str, Any]]) -> list[tuple[str, Decimal]]:
    if not outputs:
        raise InvalidInput(_("Name at least one output lot."), code="OUTPUTS_REQUIRED", field="outputs")
    if len(outputs) > MAX_ITEMS:
        raise InvalidInput(
            _("At most %(max)d output lots per step.") % {"max": MAX_ITEMS},
            code="TOO_MANY_ITEMS",
            field="outputs",
        )
    return [
        (
            _material(item.get("material"), field=f"outputs[{index}].material"),
            mass(item.get("mass_kg"), field=f"outputs[{index}].mass_kg"),
        )
        for index, item in enumerate(outputs)
    ]


@translate_conflicts
@transaction.atomic
def record_recycling(
    *,
    by: Any,
    facility: Facility | int | None,
    inputs: Sequence[dict[str, Any]],
    outputs: Sequence[dict[str, Any]],
    losses_kg: Any = "0",
    process: str = "",
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Turn batteries or modules (or lots) into material lots, with a mass balance to the gram.

    Each input gets a `recycled` event; each output lot starts its chain with `lot_created` whose
    inputs are those events with their masses. The principal event is the first input's.
    """
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    wanted = _recycling_inputs(inputs)
    produced = _recycling_outputs(outputs)
    losses = mass(losses_kg if losses_kg not in (None, "") else "0", field="losses_kg", allow_zero=True)
    process = text(process, field="process", max_length=200)
    print_ = fingerprint(
        "recycled",
        {
            "facility": facility.pk if isinstance(facility, Facility) else facility,
            "inputs": [[kind, code, mass_text(weight)] for _i, kind, code, weight in wanted],
            "outputs": [[material, mass_text(weight)] for material, weight in produced],
            "losses_kg": mass_text(losses),
            "process": process,
            "occurred_at": requested_when(occurred_at),
        },
    )
    # Batteries first, then lots, each in code order: the one locking order of every multi-row step.
    order = sorted(wanted, key=lambda item: (item[1] != "battery", item[2]))
    locked: dict[tuple[str, str], Battery | MaterialLot] = {}
    for index, kind, code, _weight in order:
        field = f"inputs[{index}].code"
        locked[(kind, code)] = (
            lock_battery(code, field=field) if kind == "battery" else lock_lot(code, field=field)
        )
    if done := replayed(actor, key, print_):
        return Outcome(done, replayed=True)
    site = own_facility(actor, facility)
    when = occurred_instant(occurred_at, actor)
    held: list[_Held] = []
    for index, kind, code, weight in wanted:
        subject = locked[(kind, code)]
        field = f"inputs[{index}]"
        if isinstance(subject, MaterialLot):
            if weight is not None and weight != subject.mass_kg:
                raise CustodyError(
                    _("%(code)s weighs %(mass)s kg; a lot is recycled whole (split it first).")
                    % {"code": code, "mass": mass_text(subject.mass_kg)},
                    code="LOT_MASS_MISMATCH",
                    field=f"{field}.mass_kg",
                )
            weight = subject.mass_kg
        elif weight is None:
            model = subject.battery_model
            if model is None:
                raise InvalidInput(
                    _("Give the mass of %(code)s: its model records none.") % {"code": code},
                    code="MASS_REQUIRED",
                    field=f"{field}.mass_kg",
                )
            weight = model.mass_kg.quantize(GRAM)
        held.append(_hold(subject, EventType.RECYCLED, actor, when, field=f"{field}.code", mass_kg=weight))
    total_in = sum((item.mass_kg for item in held), Decimal("0"))
    total_out = sum((weight for _material_name, weight in produced), Decimal("0"))
    _balance(inputs=total_in, outputs=total_out, losses=losses)
    licence = licence_for(site, Activity.MATERIAL_RECOVERY, when)

    lot_codes = [new_lot_code() for _output in produced]
    consumed: list[Consumed] = []
    principal: CustodyEvent | None = None
    for position, item in enumerate(held):
        event = append_event(
            subject=item.subject,
            type=EventType.RECYCLED,
            actor=actor,
            occurred_at=when,
            head=item.head,
            facility=site,
            activity=Activity.MATERIAL_RECOVERY,
            licence=licence,
            data={"mass_kg": mass_text(item.mass_kg), "lots": lot_codes, "process": process},
            idempotency_key=key if position == 0 else None,
            fingerprint=print_ if position == 0 else "",
        )
        principal = principal or event
        consumed.append(Consumed(item.subject, event, item.mass_kg))
        _set_status(item.subject, item.status)
    for code, (material, weight) in zip(lot_codes, produced, strict=True):
        _create_lot(
            actor=actor,
            site=site,
            code=code,
            material=material,
            mass_kg=weight,
            when=when,
            inputs=consumed,
            licence=licence,
            activity=Activity.MATERIAL_RECOVERY,
            data={
                "inputs_kg": mass_text(total_in),
                "losses_kg": mass_text(losses),
                "recovery_rate": _rate(weight, total_in),
                "total_recovery_rate": _rate(total_out, total_in),
                "process": process,
            },
        )
    assert principal is not None  # noqa: S101 - at least one input was required above
    return Outcome(principal)


# ---------------------------------------------------------------------------------------------------
# Splitting and merging
# ---------------------------------------------------------------------------------------------------
@translate_conflicts
@transaction.atomic
def split_lot(
    *,
    by: Any,
    code: str,
    facility: Facility | int | None,
    parts: Sequence[Any],
    losses_kg: Any = "0",
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Split a lot into smaller lots of the same material; parts plus losses equal the lot's mass."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    if not parts or len(parts) < 2 or len(parts) > MAX_ITEMS:
        raise InvalidInput(
            _("A lot is split into 2 to %(max)d parts.") % {"max": MAX_ITEMS},
            code="PARTS_INVALID",
            field="parts",
        )
    weights = [mass(part, field=f"parts[{index}]") for index, part in enumerate(parts)]
    losses = mass(losses_kg if losses_kg not in (None, "") else "0", field="losses_kg", allow_zero=True)
    print_ = fingerprint(
        "lot_split",
        {
            "code": (code or "").strip().upper(),
            "facility": facility.pk if isinstance(facility, Facility) else facility,
            "parts": [mass_text(weight) for weight in weights],
            "losses_kg": mass_text(losses),
            "occurred_at": requested_when(occurred_at),
        },
    )
    lot = lock_lot(code)
    if done := replayed(actor, key, print_):
        return Outcome(done, replayed=True)
    site = own_facility(actor, facility)
    when = occurred_instant(occurred_at, actor)
    item = _hold(lot, EventType.LOT_SPLIT, actor, when, field="code", mass_kg=lot.mass_kg)
    _balance(inputs=lot.mass_kg, outputs=sum(weights, Decimal("0")), losses=losses)
    licence = licence_for(site, Activity.STORAGE, when)
    codes_out = [new_lot_code() for _part in weights]
    event = append_event(
        subject=lot,
        type=EventType.LOT_SPLIT,
        actor=actor,
        occurred_at=when,
        head=item.head,
        facility=site,
        activity=Activity.STORAGE,
        licence=licence,
        data={
            "parts": [
                {"code": out, "mass_kg": mass_text(weight)}
                for out, weight in zip(codes_out, weights, strict=True)
            ],
            "losses_kg": mass_text(losses),
        },
        idempotency_key=key,
        fingerprint=print_,
    )
    _set_status(lot, item.status)
    for out, weight in zip(codes_out, weights, strict=True):
        _create_lot(
            actor=actor,
            site=site,
            code=out,
            material=lot.material,
            mass_kg=weight,
            when=when,
            inputs=[Consumed(lot, event, weight)],
            licence=licence,
            activity=Activity.STORAGE,
            data={"from": lot.code},
        )
    return Outcome(event)


@translate_conflicts
@transaction.atomic
def merge_lots(
    *,
    by: Any,
    codes: Sequence[str],
    facility: Facility | int | None,
    losses_kg: Any = "0",
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Merge lots of one material into a new lot; its mass is theirs less the declared losses."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    wanted = [(code or "").strip().upper() for code in codes or []]
    if len(wanted) < 2 or len(wanted) > MAX_ITEMS:
        raise InvalidInput(
            _("Merge 2 to %(max)d lots.") % {"max": MAX_ITEMS}, code="LOTS_INVALID", field="codes"
        )
    if len(set(wanted)) != len(wanted):
        raise InvalidInput(_("A lot is listed twice."), code="DUPLICATE_IN_REQUEST", field="codes")
    losses = mass(losses_kg if losses_kg not in (None, "") else "0", field="losses_kg", allow_zero=True)
    print_ = fingerprint(
        "lot_merged",
        {
            "codes": wanted,
            "facility": facility.pk if isinstance(facility, Facility) else facility,
            "losses_kg": mass_text(losses),
            "occurred_at": requested_when(occurred_at),
        },
    )
    locked = {code: lock_lot(code, field=f"codes[{wanted.index(code)}]") for code in sorted(wanted)}
    if done := replayed(actor, key, print_):
        return Outcome(done, replayed=True)
    site = own_facility(actor, facility)
    when = occurred_instant(occurred_at, actor)
    material = locked[wanted[0]].material
    held = []
    for index, code in enumerate(wanted):
        lot = locked[code]
        if lot.material != material:
            raise CustodyError(
                _("%(code)s is %(material)s; only lots of one material are merged.")
                % {"code": code, "material": lot.get_material_display()},
                code="MATERIAL_MISMATCH",
                field=f"codes[{index}]",
            )
        held.append(
            _hold(lot, EventType.LOT_MERGED, actor, when, field=f"codes[{index}]", mass_kg=lot.mass_kg)
        )
    total = sum((item.mass_kg for item in held), Decimal("0"))
    if losses >= total:
        raise MassBalanceError(
            _("The declared losses (%(losses)s kg) leave nothing of the %(total)s kg merged.")
            % {"losses": mass_text(losses), "total": mass_text(total)},
            field="losses_kg",
        )
    licence = licence_for(site, Activity.STORAGE, when)
    out = new_lot_code()
    consumed: list[Consumed] = []
    principal: CustodyEvent | None = None
    for position, item in enumerate(held):
        event = append_event(
            subject=item.subject,
            type=EventType.LOT_MERGED,
            actor=actor,
            occurred_at=when,
            head=item.head,
            facility=site,
            activity=Activity.STORAGE,
            licence=licence,
            data={"into": out},
            idempotency_key=key if position == 0 else None,
            fingerprint=print_ if position == 0 else "",
        )
        principal = principal or event
        consumed.append(Consumed(item.subject, event, item.mass_kg))
        _set_status(item.subject, item.status)
    _create_lot(
        actor=actor,
        site=site,
        code=out,
        material=material,
        mass_kg=total - losses,
        when=when,
        inputs=consumed,
        licence=licence,
        activity=Activity.STORAGE,
        data={"inputs_kg": mass_text(total), "losses_kg": mass_text(losses)},
    )
    assert principal is not None  # noqa: S101 - two lots at least
    return Outcome(principal)


# ---------------------------------------------------------------------------------------------------
# Leaving the chain: export, disposal
# ---------------------------------------------------------------------------------------------------
@translate_conflicts
@transaction.atomic
def export_lot(
    *,
    by: Any,
    code: str,
    destination_country: str,
    consignee: str,
    facility: Facility | int | None = None,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Ship a lot out of the platform's custody to a consignee abroad."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    country = (destination_country or "").strip().upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        raise InvalidInput(
            _("Give the destination country as an ISO 3166-1 alpha-2 code (e.g. DE)."),
            code="COUNTRY_INVALID",
            field="destination_country",
        )
    consignee = text(consignee, field="consignee", max_length=200, required=True)
    print_ = fingerprint(
        "exported",
        {
            "code": (code or "").strip().upper(),
            "country": country,
            "consignee": consignee,
            "facility": facility.pk if isinstance(facility, Facility) else facility,
            "occurred_at": requested_when(occurred_at),
        },
    )
    lot = lock_lot(code)
    if done := replayed(actor, key, print_):
        return Outcome(done, replayed=True)
    site = own_facility(actor, facility) if facility not in (None, "") else None
    when = occurred_instant(occurred_at, actor)
    item = _hold(lot, EventType.EXPORTED, actor, when, field="code", mass_kg=lot.mass_kg)
    event = append_event(
        subject=lot,
        type=EventType.EXPORTED,
        actor=actor,
        occurred_at=when,
        head=item.head,
        facility=site,
        data={"destination_country": country, "consignee": consignee, "mass_kg": mass_text(lot.mass_kg)},
        idempotency_key=key,
        fingerprint=print_,
    )
    _set_status(lot, item.status)
    return Outcome(event)


@translate_conflicts
@transaction.atomic
def dispose_lot(
    *,
    by: Any,
    code: str,
    facility: Facility | int | None,
    method: str,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Dispose of a lot (hazardous-waste treatment) at a site licensed for material recovery."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    method = text(method, field="method", max_length=200, required=True)
    print_ = fingerprint(
        "lot_disposed",
        {
            "code": (code or "").strip().upper(),
            "facility": facility.pk if isinstance(facility, Facility) else facility,
            "method": method,
            "occurred_at": requested_when(occurred_at),
        },
    )
    lot = lock_lot(code)
    if done := replayed(actor, key, print_):
        return Outcome(done, replayed=True)
    site = own_facility(actor, facility)
    when = occurred_instant(occurred_at, actor)
    item = _hold(lot, EventType.DISPOSED, actor, when, field="code", mass_kg=lot.mass_kg)
    licence = licence_for(site, Activity.MATERIAL_RECOVERY, when)
    event = append_event(
        subject=lot,
        type=EventType.DISPOSED,
        actor=actor,
        occurred_at=when,
        head=item.head,
        facility=site,
        activity=Activity.MATERIAL_RECOVERY,
        licence=licence,
        data={"method": method, "mass_kg": mass_text(lot.mass_kg)},
        idempotency_key=key,
        fingerprint=print_,
    )
    _set_status(lot, item.status)
    return Outcome(event)
