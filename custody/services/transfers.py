"""Transfers between organisations: offer, accept, reject, cancel, expire.

The sender (the custodian) offers a battery or lot to another organisation's site; the receiver
accepts (its site must be licensed at that moment) or rejects; the sender may cancel; an offer not
answered by `expires_at` expires (the `custody.expire_transfers` job). Each outcome is an event on
the subject's chain. Offer and answers lock the subject row first, so of two concurrent offers or
answers exactly one succeeds and the other gets a 409; at most one offer per subject is ever open
(a partial unique constraint backs the lock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Organisation
from accounts.notifications import notify_organisation
from core.errors import Conflict, InvalidInput, NotFound, NotPermitted
from core.jobs import run_job
from core.models import JobRun
from custody.errors import TransferError
from custody.events.body import fingerprint, instant, to_second
from custody.events.chain import (
    Actor,
    actor_for,
    append_event,
    chain_head,
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
from custody.lots.models import MaterialLot
from custody.services.common import requested_when, snapshots_of, text
from custody.services.guard import translate_conflicts
from custody.transfers.models import Transfer
from licensing.models import Activity, Facility
from passport.models import Battery

DEFAULT_LIFETIME = timedelta(days=7)
MAX_LIFETIME = timedelta(days=90)
TRANSFERS_LINK = "/custody/transfers/"


@dataclass(frozen=True)
class TransferOutcome:
    """The transfer after the request, the event it appended, and whether this was a replay."""

    transfer: Transfer
    event: CustodyEvent
    replayed: bool = False


def receiving_activity(transfer: Transfer) -> str:
    """What the receiving site must be licensed for: intake of a battery, storage of a lot."""
    return Activity.INTAKE if transfer.battery_id else Activity.STORAGE


def _subject_label(transfer: Transfer) -> str:
    return transfer.subject_code


def _notify(organisation: Organisation, transfer: Transfer, subject: str, body: str, tag: str) -> None:
    notify_organisation(
        organisation=organisation,
        roles=("admin", "operator"),
        subject=subject,
        body=body,
        link=TRANSFERS_LINK,
        dedup_key=f"custody-transfer-{transfer.pk}-{tag}",
        level=Notification.Level.INFO,
    )


def _lock_subject(transfer: Transfer) -> Battery | MaterialLot:
    return lock_battery(transfer.battery) if transfer.battery_id else lock_lot(transfer.lot)


# ---------------------------------------------------------------------------------------------------
# Offer
# ---------------------------------------------------------------------------------------------------
@translate_conflicts
@transaction.atomic
def initiate_transfer(
    *,
    by: Any,
    to_organisation: Organisation | int | None,
    to_facility: Facility | int | None,
    battery_code: str | None = None,
    lot_code: str | None = None,
    from_facility: Facility | int | None = None,
    expires_at: datetime | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> TransferOutcome:
    """The custodian offers a battery or lot to another organisation's site."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    note = text(note, field="note", max_length=500)
    if bool(battery_code) == bool(lot_code):
        raise InvalidInput(
            _("Name either a battery or a material lot to transfer."),
            code="SUBJECT_REQUIRED",
            field="battery",
        )
    receiver_id = to_organisation.pk if isinstance(to_organisation, Organisation) else to_organisation
    site_id = to_facility.pk if isinstance(to_facility, Facility) else to_facility
    origin_id = from_facility.pk if isinstance(from_facility, Facility) else from_facility
    print_ = fingerprint(
        "transfer_initiated",
        {
            "battery": normalised_code(battery_code) if battery_code else None,
            "lot": lot_code.strip().upper() if lot_code else None,
            "to_organisation": receiver_id,
            "to_facility": site_id,
            "from_facility": origin_id,
            "expires_at": instant(expires_at) if expires_at else None,
            "note": note,
        },
    )
    receiver = Organisation.objects.filter(pk=receiver_id).first() if receiver_id else None
    if receiver is None:
        raise NotFound(_("No such organisation."), code="ORGANISATION_NOT_FOUND", field="to_organisation")
    if receiver.pk == actor.organisation.pk:
        raise TransferError(
            _("A transfer goes to another organisation; %(organisation)s already holds it.")
            % {"organisation": receiver.name},
            code="TRANSFER_TO_SELF",
            field="to_organisation",
        )
    site = Facility.objects.filter(pk=site_id, organisation=receiver).first() if site_id else None
    if site is None:
        raise NotFound(
            _("%(organisation)s has no site with id %(id)s.")
            % {"organisation": receiver.name, "id": site_id},
            code="FACILITY_NOT_FOUND",
            field="to_facility",
        )
    subject = lock_battery(battery_code, field="battery") if battery_code else lock_lot(lot_code, field="lot")
    if done := replayed(actor, key, print_):
        return TransferOutcome(done.transfer, done, replayed=True)
    field = "battery" if battery_code else "lot"
    require_custodian(subject, actor, field=field)
    next_status(subject, EventType.TRANSFER_INITIATED)
    head = open_head(subject, field=field)
    origin = (
        own_facility(actor, from_facility, field="from_facility") if from_facility not in (None, "") else None
    )
    when = occurred_instant(None, actor)
    check_after_head(subject, head, when)
    deadline = expires_at or when + DEFAULT_LIFETIME
    if timezone.is_naive(deadline) or deadline <= when or deadline > when + MAX_LIFETIME:
        raise InvalidInput(
            _("An offer expires between now and %(days)d days from now.") % {"days": MAX_LIFETIME.days},
            code="EXPIRY_INVALID",
            field="expires_at",
        )
    transfer = Transfer.objects.create(
        battery=subject if isinstance(subject, Battery) else None,
        lot=subject if isinstance(subject, MaterialLot) else None,
        from_organisation=actor.organisation,
        from_facility=origin,
        to_organisation=receiver,
        to_facility=site,
        expires_at=to_second(deadline),
        initiated_by=actor.user,
        initiate_key=key,
        note=note,
    )
    event = append_event(
        subject=subject,
        type=EventType.TRANSFER_INITIATED,
        actor=actor,
        occurred_at=when,
        head=head,
        facility=origin,
        data={
            "transfer_id": transfer.pk,
            "to_organisation": receiver.name,
            "to_organisation_id": receiver.pk,
            "to_facility_id": site.pk,
            "expires_at": instant(transfer.expires_at),
            "note": note,
        },
        idempotency_key=key,
        fingerprint=print_,
        transfer=transfer,
    )
    _notify(
        receiver,
        transfer,
        _("%(sender)s offers you %(code)s") % {"sender": actor.organisation.name, "code": subject.code},
        _("Accept or reject the offer before %(deadline)s UTC; %(site)s must be licensed when you accept.")
        % {"deadline": f"{transfer.expires_at:%Y-%m-%d %H:%M}", "site": site.name},
        "offer",
    )
    return TransferOutcome(transfer, event)


# ---------------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------------
def _transfer_for(actor: Actor, transfer: Transfer | int, *, receiver: bool) -> Transfer:
    """The transfer, if the actor is a party to it; the receiver answers, the sender cancels."""
    transfer_id = transfer.pk if isinstance(transfer, Transfer) else transfer
    found = (
        Transfer.objects.filter(pk=transfer_id).select_related("to_organisation", "from_organisation").first()
    )
    organisation = actor.organisation.pk
    if found is None or organisation not in (found.from_organisation_id, found.to_organisation_id):
        raise NotFound(_("No such transfer."), code="TRANSFER_NOT_FOUND", field="transfer")
    if receiver and found.to_organisation_id != organisation:
        raise NotPermitted(
            _("This transfer is addressed to %(receiver)s; only they can accept or reject it.")
            % {"receiver": found.to_organisation.name},
            code="TRANSFER_NOT_ADDRESSED_TO_YOU",
            field="transfer",
        )
    if not receiver and found.from_organisation_id != organisation:
        raise NotPermitted(
            _("Only the sender can cancel this transfer."), code="TRANSFER_NOT_YOURS", field="transfer"
        )
    return found


def _still_open(transfer: Transfer, now: datetime) -> None:
    if transfer.status != Transfer.Status.PENDING:
        raise Conflict(
            _("Transfer %(id)d is already %(status)s.")
            % {"id": transfer.pk, "status": transfer.get_status_display()},
            code="TRANSFER_NOT_PENDING",
            field="transfer",
        )
    if transfer.expires_at <= now:
        raise Conflict(
            _("Transfer %(id)d expired at %(deadline)s UTC.")
            % {"id": transfer.pk, "deadline": f"{transfer.expires_at:%Y-%m-%d %H:%M}"},
            code="TRANSFER_EXPIRED",
            field="transfer",
        )


def _close(
    transfer: Transfer,
    status: str,
    *,
    actor: Actor | None,
    key: str | None,
    reason: str = "",
    at: datetime | None = None,
) -> None:
    transfer.status = status
    transfer.decided_at = at or (actor.recorded_at if actor else timezone.now())
    transfer.decided_by = actor.user if actor and getattr(actor.user, "pk", None) else None
    transfer.decision_key = key
    transfer.reason = reason
    transfer.save(update_fields=["status", "decided_at", "decided_by", "decision_key", "reason"])


@translate_conflicts
@transaction.atomic
def accept_transfer(
    *,
    by: Any,
    transfer: Transfer | int,
    occurred_at: datetime | None = None,
    snapshots: Sequence[str] | None = None,
    idempotency_key: str | None = None,
) -> TransferOutcome:
    """The receiver takes the battery or lot in at the named site, which must be licensed now."""
    actor = actor_for(by)
    key = clean_key(idempotency_key)
    found = _transfer_for(actor, transfer, receiver=True)
    print_ = fingerprint(
        "transfer_accepted",
        {
            "transfer": found.pk,
            "occurred_at": requested_when(occurred_at),
            "snapshots": sorted(str(value).strip().lower() for value in snapshots or []),
        },
    )
    subject = _lock_subject(found)
    if done := replayed(actor, key, print_):
        return TransferOutcome(done.transfer, done, replayed=True)
    found = (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("to_facility", "from_organisation", "to_organisation")
        .get(pk=found.pk)
    )
    _still_open(found, actor.recorded_at)
    status = next_status(subject, EventType.TRANSFER_ACCEPTED)
    head = chain_head(subject)
    when = occurred_instant(occurred_at, actor)
    check_after_head(subject, head, when)
    activity = receiving_activity(found)
    licence = licence_for(found.to_facility, activity, when)
    linked = snapshots_of(subject, snapshots) if isinstance(subject, Battery) else []
    event = append_event(
        subject=subject,
        type=EventType.TRANSFER_ACCEPTED,
        actor=actor,
        occurred_at=when,
        head=head,
        facility=found.to_facility,
        activity=activity,
        licence=licence,
        snapshots=linked,
        data={
            "transfer_id": found.pk,
            "from_organisation": found.from_organisation.name,
            "from_organisation_id": found.from_organisation_id,
        },
        idempotency_key=key,
        fingerprint=print_,
        transfer=found,
    )
    subject.status = status
    subject.current_custodian = actor.organisation
    fields = ["status", "current_custodian"]
    if isinstance(subject, MaterialLot):
        subject.facility = found.to_facility
        fields.append("facility")
    subject.save(update_fields=fields)
    _close(found, Transfer.Status.ACCEPTED, actor=actor, key=key)
    _notify(
        found.from_organisation,
        found,
        _("%(receiver)s accepted %(code)s") % {"receiver": actor.organisation.name, "code": subject.code},
        _("%(code)s is now in the custody of %(receiver)s at %(site)s.")
        % {"code": subject.code, "receiver": actor.organisation.name, "site": found.to_facility.name},
        "accepted",
    )
    return TransferOutcome(found, event)


@translate_conflicts
@transaction.atomic
def reject_transfer(
    *, by: Any, transfer: Transfer | int, reason: str = "", idempotency_key: str | None = None
) -> TransferOutcome:
    """The receiver turns the offer down; the battery or lot stays with the sender."""
    actor = actor_for(by)

    def notify(found: Transfer, subject: Any, reason: str) -> None:
        _notify(
            found.from_organisation,
            found,
            _("%(receiver)s rejected %(code)s") % {"receiver": actor.organisation.name, "code": subject.code},
            reason,
            "rejected",
        )

    return _end_offer(
        actor, transfer, reason, idempotency_key, by_receiver=True, type=EventType.TRANSFER_REJECTED,
        notify=notify,
    )  # fmt: skip


@translate_conflicts
@transaction.atomic
def cancel_transfer(
    *, by: Any, transfer: Transfer | int, reason: str = "", idempotency_key: str | None = None
) -> TransferOutcome:
    """The sender withdraws an offer not yet answered."""
    actor = actor_for(by)

    def notify(found: Transfer, subject: Any, reason: str) -> None:
        _notify(
            found.to_organisation,
            found,
            _("%(sender)s withdrew the offer of %(code)s")
            % {"sender": actor.organisation.name, "code": subject.code},
            reason,
            "cancelled",
        )

    return _end_offer(
        actor, transfer, reason, idempotency_key, by_receiver=False, type=EventType.TRANSFER_CANCELLED,
        notify=notify,
    )  # fmt: skip


_ENDED_STATUS = {
    EventType.TRANSFER_REJECTED: Transfer.Status.REJECTED,
    EventType.TRANSFER_CANCELLED: Transfer.Status.CANCELLED,
}


def _end_offer(
    actor: Actor,
    transfer: Transfer | int,
    reason: str,
    idempotency_key: str | None,
    *,
    by_receiver: bool,
    type: str,
    notify: Callable[[Transfer, Any, str], None],
) -> TransferOutcome:
    """Close an open offer without a change of custody: the receiver rejects it or the sender withdraws
    it, with a reason, recorded as an event on the subject's chain; `notify` tells the other party."""
    key = clean_key(idempotency_key)
    reason = text(reason, field="reason", max_length=500)
    found = _transfer_for(actor, transfer, receiver=by_receiver)
    print_ = fingerprint(str(type), {"transfer": found.pk, "reason": reason})
    subject = _lock_subject(found)
    if done := replayed(actor, key, print_):
        return TransferOutcome(done.transfer, done, replayed=True)
    found = (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("from_organisation", "to_organisation")
        .get(pk=found.pk)
    )
    if by_receiver or found.status != Transfer.Status.PENDING:
        # The sender may still withdraw a pending offer past its deadline, before the expiry job closes it.
        _still_open(found, actor.recorded_at)
    next_status(subject, type)
    head = chain_head(subject)
    when = occurred_instant(None, actor)
    check_after_head(subject, head, when)
    event = append_event(
        subject=subject,
        type=type,
        actor=actor,
        occurred_at=when,
        head=head,
        data={"transfer_id": found.pk, "reason": reason},
        idempotency_key=key,
        fingerprint=print_,
        transfer=found,
    )
    _close(found, _ENDED_STATUS[type], actor=actor, key=key, reason=reason)
    notify(found, subject, reason)
    return TransferOutcome(found, event)


# ---------------------------------------------------------------------------------------------------
# Expiry (periodic job)
# ---------------------------------------------------------------------------------------------------
@transaction.atomic
def expire_transfer(*, transfer_id: int, now: datetime | None = None) -> CustodyEvent | None:
    """Close one offer whose deadline passed, if it is still open (safe to run twice)."""
    moment = now or timezone.now()
    found = (
        Transfer.objects.filter(pk=transfer_id).select_related("from_organisation", "to_organisation").first()
    )
    if found is None or found.status != Transfer.Status.PENDING or found.expires_at > moment:
        return None
    subject = _lock_subject(found)
    found = (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("from_organisation", "to_organisation")
        .get(pk=found.pk)
    )
    if found.status != Transfer.Status.PENDING or found.expires_at > moment:
        return None  # answered or cancelled while this run waited for the lock
    actor = Actor(organisation=found.from_organisation, user=None, now=moment)
    head = chain_head(subject)
    when = max(to_second(found.expires_at), head.occurred_at) if head else to_second(found.expires_at)
    event = append_event(
        subject=subject,
        type=EventType.TRANSFER_EXPIRED,
        actor=actor,
        occurred_at=when,
        head=head,
        data={"transfer_id": found.pk, "to_organisation": found.to_organisation.name},
        transfer=found,
    )
    _close(found, Transfer.Status.EXPIRED, actor=None, key=None, at=moment)
    message = _("The offer of %(code)s from %(sender)s to %(receiver)s expired unanswered.") % {
        "code": subject.code,
        "sender": found.from_organisation.name,
        "receiver": found.to_organisation.name,
    }
    for party in (found.from_organisation, found.to_organisation):
        _notify(party, found, _("Offer of %(code)s expired") % {"code": subject.code}, message, "expired")
    return event


def expire_transfers(*, now: datetime | None = None) -> dict[str, int]:
    """Expire every open offer past its deadline; each in its own short transaction."""
    moment = now or timezone.now()
    due = list(
        Transfer.objects.due_to_expire(moment).order_by("expires_at", "id").values_list("pk", flat=True)
    )
    expired = sum(1 for pk in due if expire_transfer(transfer_id=pk, now=moment) is not None)
    return {"due": len(due), "expired": expired}


def run_transfer_expiry(*, now: datetime | None = None) -> JobRun:
    """The periodic job `custody.expire_transfers`, recorded as a JobRun."""
    return run_job("custody.expire_transfers", lambda: expire_transfers(now=now))
