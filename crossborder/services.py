"""Recording and revoking transfer approvals.

Who may: a regulator (admin or operator) for any holder in the regulator's own country, and an
administrator of the holder organisation for its own data. Approvals are never edited: a changed
approval is a new record and the old one is revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organisation, User
from core.errors import Conflict, InvalidInput, NotPermitted
from crossborder.countries import normalise_country
from crossborder.models import APPROVABLE_CLASSES, ApprovalRevocation, TransferApproval

REFERENCE_MAX_LENGTH = 100
NOTES_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 2000


def _organisation_of(user: Any) -> Organisation | None:
    return getattr(user, "organisation", None) if user is not None and user.is_authenticated else None


def may_record_for(user: Any, holder: Organisation) -> bool:
    """A regulator of the holder's country, or an administrator of the holder itself."""
    organisation = _organisation_of(user)
    if organisation is None or not user.is_active:
        return False
    if organisation.kind == Organisation.Kind.REGULATOR:
        return organisation.country == holder.country and user.role in (
            Membership.Role.ADMIN,
            Membership.Role.OPERATOR,
        )
    return organisation.pk == holder.pk and user.role == Membership.Role.ADMIN


def holders_for(user: Any) -> Any:
    """The organisations whose approvals `user` may record (for forms and the API's choices)."""
    organisation = _organisation_of(user)
    if organisation is None:
        return Organisation.objects.none()
    if organisation.kind == Organisation.Kind.REGULATOR:
        if user.role not in (Membership.Role.ADMIN, Membership.Role.OPERATOR):
            return Organisation.objects.none()
        return Organisation.objects.filter(country=organisation.country).exclude(
            kind__in=[Organisation.Kind.REGULATOR, Organisation.Kind.AUDITOR]
        )
    if user.role == Membership.Role.ADMIN:
        return Organisation.objects.filter(pk=organisation.pk)
    return Organisation.objects.none()


def clean_data_classes(values: Iterable[str] | str | None, *, field: str = "data_classes") -> list[str]:
    """A non-empty list drawn from restricted, telemetry and personal, sorted and without repeats."""
    if values is None or isinstance(values, str):
        values = [values] if values else []
    classes = sorted({str(value).strip().lower() for value in values if str(value).strip()})
    if not classes:
        raise InvalidInput(
            _("Name the data classes the approval covers (telemetry, personal or restricted)."),
            code="APPROVAL_CLASSES_REQUIRED",
            field=field,
        )
    unknown = [value for value in classes if value not in APPROVABLE_CLASSES]
    if unknown:
        raise InvalidInput(
            _("An approval covers only telemetry, personal or restricted data, not %(classes)s.")
            % {"classes": ", ".join(unknown)},
            code="APPROVAL_CLASS_INVALID",
            field=field,
        )
    return classes


def _reference(basis: str, reference: str) -> str:
    reference = (reference or "").strip()
    if not reference:
        prompts = {
            TransferApproval.Basis.REGULATOR_APPROVAL: _(
                "Give the approval number from the regulator's portal."
            ),
            TransferApproval.Basis.STANDARD_CONTRACT: _("Give the standard contract's filing number."),
            TransferApproval.Basis.CERTIFICATION: _("Give the certificate number."),
            TransferApproval.Basis.EXEMPTION: _("Give the legal provision the exemption rests on."),
        }
        raise InvalidInput(prompts[basis], code="APPROVAL_REFERENCE_REQUIRED", field="reference")
    if len(reference) > REFERENCE_MAX_LENGTH:
        raise InvalidInput(
            _("Keep the reference under %(limit)d characters.") % {"limit": REFERENCE_MAX_LENGTH},
            code="APPROVAL_REFERENCE_TOO_LONG",
            field="reference",
        )
    return reference


def _instant(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(_("Give a date and time."), code="APPROVAL_TIME_INVALID", field=field)
    if timezone.is_naive(value):
        raise InvalidInput(
            _("Give the time with its offset (for example 2026-07-01T00:00:00+08:00)."),
            code="APPROVAL_TIME_INVALID",
            field=field,
        )
    return value


@transaction.atomic
def record_approval(
    *,
    by: User,
    holder: Organisation,
    recipient: Organisation,
    destination_country: str,
    data_classes: Iterable[str],
    basis: str,
    reference: str,
    valid_from: datetime,
    valid_until: datetime,
    notes: str = "",
) -> TransferApproval:
    """Record the legal basis on which `holder` may send these classes of data to `recipient` abroad."""
    if not may_record_for(by, holder):
        raise NotPermitted(
            _(
                "Only a regulator of %(country)s or an administrator of %(holder)s records transfer "
                "approvals for %(holder)s."
            )
            % {"country": holder.country, "holder": holder.name},
            code="APPROVAL_NOT_PERMITTED",
            field="holder",
        )
    if recipient.pk == holder.pk:
        raise InvalidInput(
            _("The recipient must be another organisation than the data holder."),
            code="APPROVAL_RECIPIENT_IS_HOLDER",
            field="recipient",
        )
    country = normalise_country(destination_country)
    if country is None:
        raise InvalidInput(
            _("%(value)s is not an ISO 3166-1 alpha-2 country code (such as DE or FR).")
            % {"value": destination_country or "''"},
            code="APPROVAL_COUNTRY_INVALID",
            field="destination_country",
        )
    if country == holder.country:
        raise InvalidInput(
            _("Data sent to %(country)s does not leave %(holder)s's jurisdiction; no approval is needed.")
            % {"country": country, "holder": holder.name},
            code="APPROVAL_NOT_CROSS_BORDER",
            field="destination_country",
        )
    classes = clean_data_classes(data_classes)
    if basis not in TransferApproval.Basis.values:
        raise InvalidInput(
            _("The legal basis must be one of: %(choices)s.")
            % {"choices": ", ".join(TransferApproval.Basis.values)},
            code="APPROVAL_BASIS_INVALID",
            field="basis",
        )
    reference = _reference(basis, reference)
    valid_from = _instant(valid_from, "valid_from")
    valid_until = _instant(valid_until, "valid_until")
    if valid_until <= valid_from:
        raise InvalidInput(
            _("The approval must end after it starts."), code="APPROVAL_PERIOD_INVALID", field="valid_until"
        )
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX_LENGTH:
        raise InvalidInput(
            _("Keep the notes under %(limit)d characters.") % {"limit": NOTES_MAX_LENGTH},
            code="APPROVAL_NOTES_TOO_LONG",
            field="notes",
        )
    if TransferApproval.objects.filter(holder=holder, recipient=recipient, reference=reference).exists():
        raise Conflict(
            _("An approval %(reference)s from %(holder)s to %(recipient)s is already on record.")
            % {"reference": reference, "holder": holder.name, "recipient": recipient.name},
            code="APPROVAL_DUPLICATE",
            field="reference",
        )
    return TransferApproval.objects.create(
        holder=holder,
        recipient=recipient,
        destination_country=country,
        data_classes=classes,
        basis=basis,
        reference=reference,
        valid_from=valid_from,
        valid_until=valid_until,
        notes=notes,
        recorded_by=by,
        recorded_by_organisation=_organisation_of(by),
    )


@transaction.atomic
def revoke_approval(*, approval: TransferApproval, by: User, reason: str) -> ApprovalRevocation:
    """End an approval now; transfers relying on it are refused from this moment on."""
    if not may_record_for(by, approval.holder):
        raise NotPermitted(
            _("Only a regulator of %(country)s or an administrator of %(holder)s revokes this approval.")
            % {"country": approval.holder.country, "holder": approval.holder.name},
            code="APPROVAL_NOT_PERMITTED",
        )
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Say why the approval is revoked."), code="REASON_REQUIRED", field="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput(
            _("Keep the reason under %(limit)d characters.") % {"limit": REASON_MAX_LENGTH},
            code="REASON_TOO_LONG",
            field="reason",
        )
    if ApprovalRevocation.objects.filter(approval=approval).exists():
        raise Conflict(_("This approval was already revoked."), code="APPROVAL_ALREADY_REVOKED")
    try:
        with transaction.atomic():
            return ApprovalRevocation.objects.create(
                approval=approval, reason=reason, by=by, by_organisation=_organisation_of(by)
            )
    except IntegrityError:  # a concurrent revocation won the race
        raise Conflict(_("This approval was already revoked."), code="APPROVAL_ALREADY_REVOKED") from None
