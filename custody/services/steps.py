"""Steps of a battery's life at a site: registration, retirement, intake, grading, dismantling,
repurposing and disposal. Recycling into material lots is in `custody.services.lots`.

Every service: checks who acts, locks the battery row, answers a replayed idempotency key with the
first result, checks the state machine, the site's licence at `occurred_at` and the linked data, then
appends the event and moves the battery's status and custodian in the same transaction. Any refusal
raises before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organisation
from core.errors import InvalidInput
from custody.errors import CustodyError, IllegalTransition, NotCustodian
from custody.events.body import fingerprint, to_second
from custody.events.chain import (
    Actor,
    Consumed,
    actor_for,
    append_event,
    build_event,
    check_after_head,
    clean_key,
    lock_battery,
    lock_battery_at,
    normalised_code,
    occurred_instant,
    open_head,
    own_facility,
    replayed,
    require_custodian,
    write_events,
)
from custody.events.licences import licence_for
from custody.events.machine import next_status
from custody.events.models import CustodyEvent, EventType
from custody.services.common import Outcome, requested_when, snapshots_of, text
from custody.services.guard import translate_conflicts
from licensing.models import Activity, Facility
from passport.models import Battery
from passport.services.lineage import CHANNEL_REPURPOSING, register_recoded
from passport.services.registration import RegistrationRequest, commit_plans, plan_registrations
from passport.snapshots.selectors import thermal_events_on_record

CHANNEL_DISMANTLING = "dismantling"
# Children of these channels get their first event from the step that created them, with its inputs.
SELF_RECORDED_CHANNELS = frozenset({CHANNEL_DISMANTLING, CHANNEL_REPURPOSING})

GRADES = ("A", "B", "C", "D", "scrap")
TOP_GRADE = "A"
MAX_COMPONENTS = 500


@dataclass(frozen=True)
class Step:
    """A step on one battery at a site, checked up to the point where its event is written."""

    actor: Actor
    battery: Battery
    site: Facility
    status: str
    head: Any
    when: datetime
    activity: str
    licence: Any
    linked: list[Any]
    key: str | None
    fingerprint: str


def _begin_step(
    actor: Actor,
    *,
    code: str,
    facility: Facility | int | None,
    type: str,
    activity: str,
    occurred_at: datetime | None,
    snapshots: Sequence[str] | None,
    key: str | None,
    request: dict[str, Any],
    holder_check: Callable[[Battery, Actor], None] = require_custodian,
    before_time: Callable[[Battery], None] | None = None,
) -> Step | CustodyEvent:
    """Lock the battery and run every check a site step shares, in the order refusals are reported.

    `request` holds the step's own cleaned fields: with the battery, site, time and snapshots they make
    the fingerprint a retry with the same idempotency key must repeat. Returns the first result when the
    key was already used for the same request.
    """
    print_ = fingerprint(
        str(type),
        {
            "code": normalised_code(code),
            "facility": _facility_id(facility),
            "occurred_at": requested_when(occurred_at),
            "snapshots": _shots(snapshots),
            **request,
        },
    )
    battery, site_row = lock_battery_at(code, actor, facility)
    if done := replayed(actor, key, print_):
        return done
    site = own_facility(actor, facility, row=site_row)
    holder_check(battery, actor)
    status = next_status(battery, type)
    head = open_head(battery)
    if before_time is not None:
        before_time(battery)
    when = occurred_instant(occurred_at, actor)
    check_after_head(battery, head, when)
    licence = licence_for(site, activity, when)
    linked = snapshots_of(battery, snapshots)
    return Step(actor, battery, site, status, head, when, activity, licence, linked, key, print_)


def _append_step(step: Step, *, type: str, data: dict[str, Any], **subject_changes: Any) -> CustodyEvent:
    """Write the step's event on its battery, moving the battery's status (and whatever else changes)."""
    return append_event(
        subject=step.battery,
        type=type,
        actor=step.actor,
        occurred_at=step.when,
        head=step.head,
        facility=step.site,
        activity=step.activity,
        licence=step.licence,
        snapshots=step.linked,
        data=data,
        idempotency_key=step.key,
        fingerprint=step.fingerprint,
        subject_changes={"status": step.status, **subject_changes},
    )


def _shots(values: Sequence[str] | None) -> list[str]:
    return sorted(str(value).strip().lower() for value in values or [])


def _facility_id(facility: Facility | int | None) -> int | None:
    return facility.pk if isinstance(facility, Facility) else facility


# ---------------------------------------------------------------------------------------------------
# Registration (called by passport inside its insert transaction)
# ---------------------------------------------------------------------------------------------------
def record_registrations(
    *, batteries: Sequence[Battery], organisation: Organisation, user: Any, channel: str
) -> list[CustodyEvent]:
    """Open the chain of each newly registered battery with its `registered` event.

    Called by passport inside the insert's transaction, for one battery or a CSV file of many: the
    events are written in bulk (every one is the first of a fresh chain, so no lock or chain head is
    needed) and their hashes queued for the log in the same transaction.
    """
    if channel in SELF_RECORDED_CHANNELS or not batteries:
        return []
    actor = Actor(organisation=organisation, user=user)
    linked_ids = {battery.parent_id for battery in batteries} | {battery.original_id for battery in batteries}
    linked_ids.discard(None)
    linked = dict(Battery.objects.filter(pk__in=linked_ids).values_list("pk", "code")) if linked_ids else {}
    events = []
    for battery in batteries:
        data = {
            "channel": channel,
            "origin": battery.origin,
            "oem": battery.oem.name,
            "oem_id": battery.oem_id,
            "product_type": battery.product_type,
            "model": battery.battery_model.name if battery.battery_model_id else None,
            "parent": linked.get(battery.parent_id),
            "original": linked.get(battery.original_id),
            "registration_key": battery.registration_key.key_id if battery.registration_key_id else None,
        }
        events.append(
            build_event(
                subject=battery,
                type=EventType.REGISTERED,
                actor=actor,
                occurred_at=to_second(battery.registered_at),
                head=None,
                data=data,
            )
        )
    return write_events(events)


# ---------------------------------------------------------------------------------------------------
# Retirement (the custodian takes a battery out of use; no site licence involved)
# ---------------------------------------------------------------------------------------------------
@translate_conflicts
@transaction.atomic
def record_retirement(
    *,
    by: Any,
    code: str,
    reason: str = "",
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """The custodian retires a battery from use (end of its first life)."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    reason = text(reason, field="reason", max_length=500)
    print_ = fingerprint(
        "retired",
        {"code": normalised_code(code), "reason": reason, "occurred_at": requested_when(occurred_at)},
    )
    battery = lock_battery(code)
    if done := replayed(actor, key, print_):
        return Outcome(done, replayed=True)
    require_custodian(battery, actor)
    status = next_status(battery, EventType.RETIRED)
    head = open_head(battery)
    when = occurred_instant(occurred_at, actor)
    check_after_head(battery, head, when)
    event = append_event(
        subject=battery,
        type=EventType.RETIRED,
        actor=actor,
        occurred_at=when,
        head=head,
        data={"reason": reason},
        idempotency_key=key,
        fingerprint=print_,
        subject_changes={"status": status},
    )
    return Outcome(event)


# ---------------------------------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------------------------------
def check_intake_holder(battery: Battery, organisation: Organisation) -> None:
    """A unit already held by a recycler changes hands by transfer, not by intake."""
    if battery.status not in (Battery.Status.IN_CUSTODY, Battery.Status.GRADED):
        return
    if battery.current_custodian_id == organisation.pk:
        raise IllegalTransition(
            _("%(code)s is already in your custody.") % {"code": battery.code}, field="code"
        )
    raise NotCustodian(
        _("%(code)s is in the custody of %(holder)s; it must be transferred to you before you take it in.")
        % {"code": battery.code, "holder": battery.current_custodian.name},
        field="code",
    )


@translate_conflicts
@transaction.atomic
def record_intake(
    *,
    by: Any,
    code: str,
    facility: Facility | int | None,
    occurred_at: datetime | None = None,
    snapshots: Sequence[str] | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> Outcome:
    """Take a battery into custody at one of the actor's licensed sites."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    note = text(note, field="note", max_length=500)
    step = _begin_step(
        actor,
        code=code,
        facility=facility,
        type=EventType.INTAKE,
        activity=Activity.INTAKE,
        occurred_at=occurred_at,
        snapshots=snapshots,
        key=key,
        request={"note": note},
        holder_check=lambda battery, actor: check_intake_holder(battery, actor.organisation),
    )
    if isinstance(step, CustodyEvent):
        return Outcome(step, replayed=True)
    event = _append_step(
        step, type=EventType.INTAKE, data={"note": note}, current_custodian=actor.organisation
    )
    return Outcome(event)


# ---------------------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------------------
def _lab(lab: Organisation | int | None) -> Organisation | None:
    if lab in (None, ""):
        return None
    lab_id = lab.pk if isinstance(lab, Organisation) else lab
    found = Organisation.objects.filter(pk=lab_id, kind=Organisation.Kind.TEST_LAB).first()
    if found is None:
        raise InvalidInput(
            _("The certifying lab must be an evaluation institution registered here."),
            code="LAB_INVALID",
            field="lab",
        )
    return found


@translate_conflicts
@transaction.atomic
def record_grading(
    *,
    by: Any,
    code: str,
    facility: Facility | int | None,
    grade: str,
    method: str,
    lab: Organisation | int | None = None,
    occurred_at: datetime | None = None,
    snapshots: Sequence[str] | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> Outcome:
    """Record a battery's grade (A-D or scrap), how it was found and which lab certifies it."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    if grade not in GRADES:
        raise InvalidInput(
            _("The grade must be one of %(grades)s.") % {"grades": ", ".join(GRADES)},
            code="GRADE_INVALID",
            field="grade",
        )
    method = text(method, field="method", max_length=200, required=True)
    note = text(note, field="note", max_length=500)
    certifier = _lab(lab)
    step = _begin_step(
        actor,
        code=code,
        facility=facility,
        type=EventType.GRADED,
        activity=Activity.STORAGE,
        occurred_at=occurred_at,
        snapshots=snapshots,
        key=key,
        request={"grade": grade, "method": method, "lab": certifier.pk if certifier else None, "note": note},
        before_time=_refuse_top_grade_after_thermal_event if grade == TOP_GRADE else None,
    )
    if isinstance(step, CustodyEvent):
        return Outcome(step, replayed=True)
    event = _append_step(
        step,
        type=EventType.GRADED,
        data={
            "grade": grade,
            "method": method,
            "lab": certifier.name if certifier else None,
            "lab_id": certifier.pk if certifier else None,
            "note": note,
        },
    )
    return Outcome(event)


def _refuse_top_grade_after_thermal_event(battery: Battery) -> None:
    thermal = thermal_events_on_record(battery)
    if thermal:
        raise CustodyError(
            _(
                "%(code)s has %(count)d thermal event(s) in its signed BMS history: grade A is refused "
                "for a battery with a thermal event on record."
            )
            % {"code": battery.code, "count": thermal},
            code="THERMAL_EVENT_ON_RECORD",
            field="grade",
        )


# ---------------------------------------------------------------------------------------------------
# Dismantling
# ---------------------------------------------------------------------------------------------------
def _component_codes(components: Sequence[str] | None) -> list[str]:
    wanted = [normalised_code(code) if str(code).strip() else "" for code in components or []]
    wanted = [code for code in wanted if code]
    if not wanted:
        raise InvalidInput(
            _("List the modules or cells that came out of the unit."),
            code="COMPONENTS_REQUIRED",
            field="components",
        )
    if len(wanted) > MAX_COMPONENTS:
        raise InvalidInput(
            _("At most %(max)d components per dismantling.") % {"max": MAX_COMPONENTS},
            code="TOO_MANY_ITEMS",
            field="components",
        )
    seen: set[str] = set()
    for index, code in enumerate(wanted):
        if code in seen:
            raise InvalidInput(
                _("The component %(code)s is listed twice.") % {"code": code},
                code="DUPLICATE_IN_REQUEST",
                field=f"components[{index}]",
            )
        seen.add(code)
    return wanted


def _register_components(parent: Battery, fresh: list[tuple[int, str]], actor: Actor) -> dict[str, Battery]:
    """Register the components not yet known, as children of `parent` inheriting its origin."""
    requests = [
        RegistrationRequest(code=code, parent_code=parent.code, field_prefix=f"components[{index}].")
        for index, code in fresh
    ]
    planned = plan_registrations(requests=requests, organisation=actor.organisation)
    if planned.problems:
        problem = planned.problems[0]
        error = problem.error
        error.field = problem.field
        raise error
    for plan in planned.plans:
        plan.origin = parent.origin  # lineage: a component is as verified as the unit it came from
    created = commit_plans(
        plans=planned.plans, organisation=actor.organisation, user=actor.user, channel=CHANNEL_DISMANTLING
    )
    return {battery.code: battery for battery in created}


@translate_conflicts
@transaction.atomic
def record_dismantling(
    *,
    by: Any,
    code: str,
    facility: Facility | int | None,
    components: Sequence[str] | None,
    occurred_at: datetime | None = None,
    snapshots: Sequence[str] | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> Outcome:
    """Take a pack or module apart into modules or cells, each linked to it and starting its own chain."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    wanted = _component_codes(components)
    note = text(note, field="note", max_length=500)
    step = _begin_step(
        actor,
        code=code,
        facility=facility,
        type=EventType.DISMANTLED,
        activity=Activity.DISMANTLING,
        occurred_at=occurred_at,
        snapshots=snapshots,
        key=key,
        request={"components": wanted, "note": note},
    )
    if isinstance(step, CustodyEvent):
        return Outcome(step, replayed=True)
    battery, site, when, licence = step.battery, step.site, step.when, step.licence

    # Components registered before (an OEM registers packs with their modules) are released from the
    # unit; they are locked in code order, as every multi-row step does, so two steps never deadlock.
    existing = {
        child.code: child
        for child in Battery.objects.select_for_update().filter(code__in=wanted).order_by("code")
    }
    heads = {}
    for index, component in enumerate(wanted):
        child = existing.get(component)
        if child is None:
            continue
        field = f"components[{index}]"
        if child.parent_id != battery.pk:
            raise CustodyError(
                _("%(child)s is registered, but not as a component of %(code)s.")
                % {"child": component, "code": battery.code},
                code="COMPONENT_NOT_PART",
                field=field,
            )
        try:
            next_status(child, EventType.INTAKE)
        except IllegalTransition as error:
            error.field = field
            raise
        heads[component] = open_head(child, field=field)
        check_after_head(child, heads[component], when)

    parent_event = _append_step(step, type=EventType.DISMANTLED, data={"components": wanted, "note": note})

    fresh = [(index, component) for index, component in enumerate(wanted) if component not in existing]
    created = _register_components(battery, fresh, actor) if fresh else {}
    released_from = [Consumed(battery, parent_event)]
    for component in wanted:
        child = existing.get(component) or created[component]
        is_new = component in created
        append_event(
            subject=child,
            type=EventType.REGISTERED if is_new else EventType.INTAKE,
            actor=actor,
            occurred_at=when,
            head=None if is_new else heads[component],
            facility=site,
            activity=Activity.DISMANTLING,
            licence=licence,
            inputs=released_from,
            data={
                "channel": CHANNEL_DISMANTLING,
                "parent": battery.code,
                "origin": child.origin,
                "oem": battery.oem.name,
                "oem_id": battery.oem_id,
                "product_type": child.product_type,
            },
        )
        child.status = Battery.Status.IN_CUSTODY
        child.current_custodian = actor.organisation
        child.save(update_fields=["status", "current_custodian"])
    return Outcome(parent_event)


# ---------------------------------------------------------------------------------------------------
# Repurposing
# ---------------------------------------------------------------------------------------------------
@translate_conflicts
@transaction.atomic
def record_repurposing(
    *,
    by: Any,
    code: str,
    facility: Facility | int | None,
    new_code: str,
    application: str = "",
    occurred_at: datetime | None = None,
    snapshots: Sequence[str] | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Re-code a battery for a second life: a new unit linked to the original, events on both."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    application = text(application, field="application", max_length=200)
    recode = normalised_code(new_code)
    step = _begin_step(
        actor,
        code=code,
        facility=facility,
        type=EventType.REPURPOSED,
        activity=Activity.SECOND_LIFE,
        occurred_at=occurred_at,
        snapshots=snapshots,
        key=key,
        request={"new_code": recode, "application": application},
    )
    if isinstance(step, CustodyEvent):
        return Outcome(step, replayed=True)
    battery = step.battery
    original_event = _append_step(
        step, type=EventType.REPURPOSED, data={"new_code": recode, "application": application}
    )
    unit = register_recoded(
        original=battery, code=recode, organisation=actor.organisation, user=actor.user, field="new_code"
    )
    append_event(
        subject=unit,
        type=EventType.REPURPOSED,
        actor=actor,
        occurred_at=step.when,
        head=None,
        facility=step.site,
        activity=Activity.SECOND_LIFE,
        licence=step.licence,
        inputs=[Consumed(battery, original_event)],
        data={
            "original": battery.code,
            "origin": unit.origin,
            "oem": battery.oem.name,
            "oem_id": battery.oem_id,
            "application": application,
        },
    )
    return Outcome(original_event)


# ---------------------------------------------------------------------------------------------------
# Disposal
# ---------------------------------------------------------------------------------------------------
@translate_conflicts
@transaction.atomic
def record_disposal(
    *,
    by: Any,
    code: str,
    facility: Facility | int | None,
    method: str,
    occurred_at: datetime | None = None,
    snapshots: Sequence[str] | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Dispose of a battery that can be neither reused nor recovered (hazardous-waste treatment)."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    method = text(method, field="method", max_length=200, required=True)
    step = _begin_step(
        actor,
        code=code,
        facility=facility,
        type=EventType.DISPOSED,
        activity=Activity.MATERIAL_RECOVERY,
        occurred_at=occurred_at,
        snapshots=snapshots,
        key=key,
        request={"method": method},
    )
    if isinstance(step, CustodyEvent):
        return Outcome(step, replayed=True)
    return Outcome(_append_step(step, type=EventType.DISPOSED, data={"method": method}))
