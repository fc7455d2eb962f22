"""History requests: ask, approve, reject, deliver.

Who does what:
- any administrator or operator of an organisation other than the battery's custodian asks, naming the
  battery and the purpose (one open request per battery and organisation);
- only an administrator of the battery's *current* custodian approves or rejects, always with a reason
  (disclosing telemetry outside the organisation is an accountable decision, so operators, who record
  custody steps, may see requests but not decide them);
- any member of the requesting organisation downloads an approved history.

Delivery is refused, recorded and shown to the buyer, and the request stays approved so that it can be
retried, when the cross-border gate finds no matching approval (buyer outside the data's jurisdiction) or
the release scan finds an identifier in the scrubbed document (fail closed). The refusal is written in
its own transaction, so it stays on record although the download fails.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Notification, Organisation
from accounts.notifications import notify_organisation
from core.errors import Conflict, DomainError, InvalidInput, NotFound, NotPermitted
from crossborder import gate, scanner, scrub
from custody.errors import CustodyError, NotCustodian
from custody.history import selectors
from custody.history.document import SignedHistory, history_body
from custody.history.models import HistoryDelivery, HistoryRequest, HistoryRequestEvent
from custody.transparency.keys import sign_with_log_key
from passport import access, codes
from passport.models import Battery

PURPOSE_MIN_LENGTH = 10
PURPOSE_MAX_LENGTH = 1000
REASON_MAX_LENGTH = 1000
REQUESTS_LINK = "/custody/history-requests/"
CHANNEL = "history"
DATA_CLASSES = ("telemetry",)

Event = HistoryRequestEvent.Kind


@dataclass(frozen=True)
class DeliveredHistory:
    """A delivered history: the request, the delivery record and the signed document."""

    request: HistoryRequest
    delivery: HistoryDelivery
    signed: SignedHistory

    @property
    def filename(self) -> str:
        return f"bms-history-{self.request.battery.code}-{self.request.pk}.json"


def _organisation(user: Any) -> Organisation:
    organisation = getattr(user, "organisation", None) if user is not None and user.is_authenticated else None
    if organisation is None:
        raise NotPermitted(
            _("History requests are made and decided by members of an organisation."), code="NOT_PERMITTED"
        )
    return organisation


def _text(value: Any, *, field: str, minimum: int, maximum: int, code: str, message: str) -> str:
    cleaned = str(value or "").strip()
    if len(cleaned) < minimum:
        raise InvalidInput(message, code=code, field=field)
    if len(cleaned) > maximum:
        raise InvalidInput(
            _("%(field)s is at most %(max)d characters.") % {"field": field, "max": maximum},
            code="TOO_LONG",
            field=field,
        )
    return cleaned


def _reason(value: Any) -> str:
    return _text(
        value,
        field="reason",
        minimum=1,
        maximum=REASON_MAX_LENGTH,
        code="REASON_REQUIRED",
        message=_("Give the reason for the decision; the requester sees it."),
    )


def _notify(
    organisation: Organisation,
    request: HistoryRequest,
    *,
    roles: tuple[str, ...],
    subject: str,
    body: str,
    tag: str,
) -> None:
    notify_organisation(
        organisation=organisation,
        roles=roles,
        subject=subject,
        body=body,
        link=REQUESTS_LINK,
        dedup_key=f"custody-history-{request.pk}-{tag}",
        level=Notification.Level.INFO,
    )


def _log(request: HistoryRequest, kind: str, *, organisation: Organisation, user: Any, **fields: Any) -> None:
    HistoryRequestEvent.objects.create(
        request=request,
        kind=kind,
        organisation=organisation,
        user=user if getattr(user, "pk", None) else None,
        **fields,
    )


# ---------------------------------------------------------------------------------------------------
# Ask
# ---------------------------------------------------------------------------------------------------
@transaction.atomic
def request_history(*, by: Any, battery_code: str, purpose: str) -> HistoryRequest:
    """Ask the battery's current custodian for its documented BMS history."""
    organisation = _organisation(by)
    if by.role not in (Membership.Role.ADMIN, Membership.Role.OPERATOR):
        raise NotPermitted(
            _("History requests are made by the administrators and operators of an organisation."),
            code="NOT_PERMITTED",
        )
    code = codes.normalise(battery_code or "")
    battery = Battery.objects.select_related("current_custodian").filter(code=code).first()
    if battery is None:
        raise NotFound(
            _("No battery %(code)s is registered.") % {"code": code or "-"},
            code="BATTERY_NOT_FOUND",
            field="battery",
        )
    purpose = _text(
        purpose,
        field="purpose",
        minimum=PURPOSE_MIN_LENGTH,
        maximum=PURPOSE_MAX_LENGTH,
        code="PURPOSE_REQUIRED",
        message=_("Say what you need the history for (at least %(min)d characters); the custodian sees it.")
        % {"min": PURPOSE_MIN_LENGTH},
    )
    custodian = battery.current_custodian
    if custodian.pk == organisation.pk:
        raise CustodyError(
            _("%(organisation)s holds %(code)s: its history is already yours to read.")
            % {"organisation": organisation.name, "code": battery.code},
            code="HISTORY_REQUEST_TO_SELF",
            field="battery",
        )
    if HistoryRequest.objects.pending().filter(battery=battery, requester=organisation).exists():
        raise _already_pending(battery)
    try:
        with transaction.atomic():
            request = HistoryRequest.objects.create(
                battery=battery, requester=organisation, requested_by=by, custodian=custodian, purpose=purpose
            )
    except IntegrityError:
        raise _already_pending(battery) from None  # a concurrent request won the unique constraint
    _log(request, Event.REQUESTED, organisation=organisation, user=by, reason=purpose)
    _notify(
        custodian,
        request,
        roles=(Membership.Role.ADMIN,),
        subject=_("%(requester)s asks for the BMS history of %(code)s")
        % {"requester": organisation.name, "code": battery.code},
        body=_("Purpose: %(purpose)s") % {"purpose": purpose},
        tag="requested",
    )
    return request


def _already_pending(battery: Battery) -> Conflict:
    return Conflict(
        _("Your organisation already has an open request for the history of %(code)s.")
        % {"code": battery.code},
        code="HISTORY_REQUEST_PENDING",
        field="battery",
    )


# ---------------------------------------------------------------------------------------------------
# Decide
# ---------------------------------------------------------------------------------------------------
def _visible(user: Any, request: HistoryRequest | int) -> HistoryRequest:
    request_id = request.pk if isinstance(request, HistoryRequest) else request
    found = (
        HistoryRequest.objects.visible_to(user)
        .select_related("battery", "battery__current_custodian", "requester", "custodian")
        .filter(pk=request_id)
        .first()
    )
    if found is None:
        raise NotFound(_("No such history request."), code="HISTORY_REQUEST_NOT_FOUND", field="request")
    return found


@transaction.atomic
def _decide(*, by: Any, request: HistoryRequest | int, reason: str, status: str) -> HistoryRequest:
    organisation = _organisation(by)
    found = _visible(by, request)
    custodian = found.battery.current_custodian
    if custodian.pk != organisation.pk:
        raise NotCustodian(
            _("Only the battery's current custodian, %(custodian)s, decides on this request.")
            % {"custodian": custodian.name},
            code="NOT_CUSTODIAN",
            field="request",
        )
    if by.role != Membership.Role.ADMIN:
        raise NotPermitted(
            _("Only an administrator of %(organisation)s approves or rejects history requests.")
            % {"organisation": organisation.name},
            code="NOT_PERMITTED",
        )
    reason = _reason(reason)
    found = (
        HistoryRequest.objects.select_for_update(of=("self",))
        .select_related("battery", "requester", "custodian")
        .get(pk=found.pk)
    )
    if found.status != HistoryRequest.Status.REQUESTED:
        raise Conflict(
            _("This request was already %(status)s.") % {"status": found.get_status_display()},
            code="HISTORY_REQUEST_NOT_PENDING",
            field="request",
        )
    found.status = status
    found.decided_at = timezone.now()
    found.decided_by = by
    found.decision_reason = reason
    found.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
    approved = status == HistoryRequest.Status.APPROVED
    _log(
        found,
        Event.APPROVED if approved else Event.REJECTED,
        organisation=organisation,
        user=by,
        at=found.decided_at,
        reason=reason,
    )
    subject = (
        _("%(custodian)s approved your request for the history of %(code)s")
        if approved
        else _("%(custodian)s rejected your request for the history of %(code)s")
    ) % {"custodian": organisation.name, "code": found.battery.code}
    _notify(
        found.requester,
        found,
        roles=(Membership.Role.ADMIN, Membership.Role.OPERATOR),
        subject=subject,
        body=reason,
        tag="decided",
    )
    return found


def approve_history_request(*, by: Any, request: HistoryRequest | int, reason: str) -> HistoryRequest:
    """The custodian releases the battery's history as of now to the requester."""
    return _decide(by=by, request=request, reason=reason, status=HistoryRequest.Status.APPROVED)


def reject_history_request(*, by: Any, request: HistoryRequest | int, reason: str) -> HistoryRequest:
    """The custodian declines; the requester sees the reason and may ask again."""
    return _decide(by=by, request=request, reason=reason, status=HistoryRequest.Status.REJECTED)


# ---------------------------------------------------------------------------------------------------
# Deliver
# ---------------------------------------------------------------------------------------------------
def _deliverable(by: Any, request: HistoryRequest | int) -> tuple[Organisation, HistoryRequest]:
    organisation = _organisation(by)
    found = _visible(by, request)
    if found.requester_id != organisation.pk:
        raise NotPermitted(
            _("Only %(requester)s, who asked for it, downloads this history.")
            % {"requester": found.requester.name},
            code="HISTORY_NOT_YOURS",
            field="request",
        )
    if found.status == HistoryRequest.Status.REQUESTED:
        raise Conflict(
            _("%(custodian)s has not decided on this request yet.")
            % {"custodian": found.battery.current_custodian.name},
            code="HISTORY_REQUEST_NOT_DECIDED",
            field="request",
        )
    if found.status == HistoryRequest.Status.REJECTED:
        raise Conflict(
            _("This request was rejected: %(reason)s") % {"reason": found.decision_reason},
            code="HISTORY_REQUEST_REJECTED",
            field="request",
        )
    return organisation, found


def _record_refusal(
    request: HistoryRequest, organisation: Organisation, user: Any, refusal: DomainError
) -> None:
    # Its own transaction: the refusal stays on record although the download fails.
    with transaction.atomic():
        moment = timezone.now()
        HistoryRequest.objects.filter(pk=request.pk).update(
            refused_at=moment, refusal_code=refusal.code, refusal_reason=str(refusal.message)
        )
        _log(
            request,
            Event.REFUSED,
            organisation=organisation,
            user=user,
            at=moment,
            code=refusal.code,
            reason=str(refusal.message),
        )


def _scrubbed(payload: dict[str, Any], battery: Battery) -> dict[str, Any]:
    """The anonymiser's pass: vehicle, owner and location fields and free-text notes go, identifiers in
    any other text are removed, timestamps are coarsened to the day and battery codes replaced by their
    keyed hash. The battery's own code is then put back where the document names the battery: the
    buyer named it, so it reveals nothing to them, and the history is useless without it."""
    scrubbed = scrub.anonymise_record(payload)
    scrubbed["battery"]["code"] = battery.code
    return scrubbed


def deliver_history(*, by: Any, request: HistoryRequest | int) -> DeliveredHistory:
    """The approved history, scrubbed, signed and scanned before it leaves; the cross-border gate
    decides first (a recipient in the data's jurisdiction needs no approval, one abroad does). Every
    delivery is recorded here and in the export log, every refusal on the request and in the log.

    Runs outside any transaction: the gate's and the scanner's log rows commit on their own.
    """
    organisation, found = _deliverable(by, request)
    battery = found.battery
    holder = battery.current_custodian
    jurisdiction = access.data_jurisdiction_of(battery)
    common = {
        "user": by,
        "recipient": organisation,
        "data_classes": list(DATA_CLASSES),
        "data_jurisdiction": jurisdiction,
        "channel": CHANNEL,
        "subject": battery.code,
        "purpose": found.purpose,
        "holder": holder,
    }
    try:
        cleared = gate.authorise(**common)
        payload = _scrubbed(selectors.history_payload(request=found, data_jurisdiction=jurisdiction), battery)
        signed = SignedHistory.of(sign_with_log_key(history_body(payload)))
        released = scanner.release(path=io.BytesIO(signed.content), approval=cleared.approval, **common)
    except DomainError as refusal:
        _record_refusal(found, organisation, by, refusal)
        raise
    with transaction.atomic():
        locked = (
            HistoryRequest.objects.select_for_update(of=("self",)).select_related("battery").get(pk=found.pk)
        )
        moment = timezone.now()
        delivery = HistoryDelivery.objects.create(
            request=locked,
            organisation=organisation,
            user=by,
            delivered_at=moment,
            as_of=locked.decided_at,
            snapshot_count=len(payload["snapshots"]),
            payload_sha256=signed.payload_sha256,
            key_id=signed.key_id,
            data_jurisdiction=jurisdiction,
            recipient_country=organisation.country,
            cross_border=organisation.country != jurisdiction,
            clearance={
                "gate": {"log_entry": cleared.pk, "outcome": cleared.outcome},
                "approval": None
                if cleared.approval is None
                else {"id": cleared.approval_id, "reference": cleared.approval.reference},
                "scan": {"log_entry": released.pk, "outcome": released.outcome, **released.scan},
            },
        )
        _log(
            locked,
            Event.DELIVERED,
            organisation=organisation,
            user=by,
            at=moment,
            details={"delivery": delivery.pk, "payload_sha256": signed.payload_sha256},
        )
        locked.status = HistoryRequest.Status.DELIVERED
        locked.delivered_at = locked.delivered_at or moment
        locked.refused_at, locked.refusal_code, locked.refusal_reason = None, "", ""
        locked.save(update_fields=["status", "delivered_at", "refused_at", "refusal_code", "refusal_reason"])
    return DeliveredHistory(request=locked, delivery=delivery, signed=signed)
