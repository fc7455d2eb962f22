"""Writes to facilities and licences: registration, issuance, the regulator's actions, evidence."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import FileField
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Organisation, User
from accounts.notifications import notify_organisation
from core.errors import Conflict, DomainError, InvalidInput, NotPermitted
from licensing import local_time, selectors
from licensing.evidence import check_evidence
from licensing.models import DEFAULT_TIMEZONE, Activity, Facility, Licence, LicenceEvent, LicenceEvidence
from licensing.provinces import CN_PROVINCES


class LicenceError(DomainError):
    """A licensing rule refused the request; `code` says which (e.g. LICENCE_EXPIRED)."""

    status_code = 422
    default_code = "LICENCE_ERROR"


_PROVINCE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


def _require(user: User, permission: str, target: Any = None) -> None:
    if not user.has_perm(permission, target):
        messages = {
            "licensing.manage_licence": _(
                "Only a regulator or a platform administrator may change a licence."
            ),
            "licensing.submit_evidence": _(
                "Only the facility's administrators or a regulator may submit evidence."
            ),
            "licensing.register_facility": _(
                "Only the organisation's administrators or a regulator may register its facilities."
            ),
        }
        raise NotPermitted(messages[permission])


def _reason(reason: str, *, required: bool = True) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput(_("Give the reason for this change."), code="REASON_REQUIRED", field="reason")
    return reason


def clean_activities(activities: Iterable[str], *, field: str = "activities") -> list[str]:
    """Validate activity codes and return them de-duplicated in the vocabulary's order."""
    if isinstance(activities, str):
        activities = [activities]
    chosen = set()
    for activity in activities:
        if activity not in Activity.values:
            raise InvalidInput(
                _("Unknown activity %(activity)s; use one of %(choices)s.")
                % {"activity": activity, "choices": ", ".join(Activity.values)},
                code="UNKNOWN_ACTIVITY",
                field=field,
            )
        chosen.add(activity)
    if not chosen:
        raise InvalidInput(_("Name at least one permitted activity."), field=field)
    return [value for value in Activity.values if value in chosen]


def _aware(instant: datetime | None, *, field: str = "effective_at") -> datetime:
    if instant is None:
        return timezone.now()
    if timezone.is_naive(instant):
        raise InvalidInput(_("The time must include a time-zone offset."), field=field)
    return instant


def _store_evidence(row: Any, upload: UploadedFile | None) -> None:
    """Attach a checked evidence file to an unsaved row (the caller saves it)."""
    if upload is None:
        return
    checked = check_evidence(upload)
    row.evidence = upload
    row.evidence_sha256 = checked.sha256


def _save_with_files(row: Any) -> None:
    """Save a new row; if the insert fails, remove the files it wrote so nothing is half-written."""
    try:
        with transaction.atomic():
            row.save()
    except BaseException:
        for field in row._meta.concrete_fields:
            if isinstance(field, FileField):
                stored = getattr(row, field.attname)
                if stored and stored.name and stored.storage.exists(stored.name):
                    stored.storage.delete(stored.name)
        raise


@transaction.atomic
def register_facility(
    *,
    by: User,
    organisation: Organisation,
    name: str,
    address: str = "",
    province: str,
    country: str | None = None,
    time_zone: str | None = None,
) -> Facility:
    """Register a site of `organisation`; its time zone decides the local calendar of its licences."""
    _require(by, "licensing.register_facility", organisation)
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput(_("Give the facility a name."), field="name")
    country = (country or organisation.country).strip().upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise InvalidInput(_("Country must be an ISO 3166-1 alpha-2 code such as CN."), field="country")
    province = (province or "").strip().upper()
    if not _PROVINCE.match(province) or not province.startswith(f"{country}-"):
        raise InvalidInput(
            _("Province must be an ISO 3166-2 code of %(country)s, such as %(country)s-JX.")
            % {"country": country},
            code="INVALID_PROVINCE",
            field="province",
        )
    if country == "CN" and province not in CN_PROVINCES:
        raise InvalidInput(
            _("%(province)s is not a province of China.") % {"province": province},
            code="INVALID_PROVINCE",
            field="province",
        )
    if not time_zone:
        if country != "CN":
            raise InvalidInput(
                _("Give the time zone of a facility outside China, e.g. Europe/Berlin."), field="timezone"
            )
        time_zone = DEFAULT_TIMEZONE
    if not local_time.is_time_zone(time_zone):
        raise InvalidInput(
            _("%(zone)s is not a known time zone; use an IANA name such as Asia/Shanghai.")
            % {"zone": time_zone},
            code="INVALID_TIME_ZONE",
            field="timezone",
        )
    if Facility.objects.filter(organisation=organisation, name=name).exists():
        raise Conflict(
            _("%(organisation)s already has a facility named %(name)s.")
            % {"organisation": organisation.name, "name": name},
            code="DUPLICATE_FACILITY",
            field="name",
        )
    return Facility.objects.create(
        organisation=organisation,
        name=name,
        address=(address or "").strip(),
        province=province,
        country=country,
        timezone=time_zone,
    )


def _notify_facility(event: LicenceEvent, subject: str, level: str) -> None:
    licence = event.licence
    notify_organisation(
        organisation=licence.facility.organisation,
        subject=subject,
        body=_("%(kind)s %(number)s of %(facility)s: %(reason)s")
        % {
            "kind": licence.get_kind_display(),
            "number": licence.number,
            "facility": licence.facility.name,
            "reason": event.reason,
        },
        link=reverse("licensing:facility-detail", kwargs={"pk": licence.facility_id}),
        dedup_key=f"licence:{licence.pk}:event:{event.pk}",
        level=level,
    )


@transaction.atomic
def issue_licence(
    *,
    by: User,
    facility: Facility,
    kind: str,
    issuing_authority: str,
    number: str,
    activities: Iterable[str],
    valid_from: date,
    valid_until: date | None = None,
    reason: str = "",
    evidence: UploadedFile | None = None,
) -> Licence:
    """Record a licence the authority issued to `facility`, with its `issued` event."""
    _require(by, "licensing.manage_licence")
    if kind not in Licence.Kind.values:
        raise InvalidInput(
            _("Unknown licence kind %(kind)s; use one of %(choices)s.")
            % {"kind": kind, "choices": ", ".join(Licence.Kind.values)},
            code="UNKNOWN_LICENCE_KIND",
            field="kind",
        )
    issuing_authority = " ".join((issuing_authority or "").split())
    number = (number or "").strip()
    if not issuing_authority:
        raise InvalidInput(_("Name the issuing authority."), field="issuing_authority")
    if not number:
        raise InvalidInput(_("Give the licence number."), field="number")
    activities = clean_activities(activities)
    if valid_until is not None and valid_until < valid_from:
        raise InvalidInput(
            _("The licence cannot be valid until %(until)s, before it is valid from %(start)s.")
            % {"until": valid_until.isoformat(), "start": valid_from.isoformat()},
            code="VALID_UNTIL_BEFORE_VALID_FROM",
            field="valid_until",
        )
    if Licence.objects.filter(issuing_authority=issuing_authority, number=number).exists():
        raise Conflict(
            _("%(authority)s has already issued a licence numbered %(number)s.")
            % {"authority": issuing_authority, "number": number},
            code="DUPLICATE_LICENCE_NUMBER",
            field="number",
        )
    zone = facility.timezone
    licence = Licence(
        facility=facility,
        kind=kind,
        issuing_authority=issuing_authority,
        number=number,
        activities=activities,
        valid_from=valid_from,
        valid_until=valid_until,
        starts_at=local_time.start_of_day(valid_from, zone),
        ends_at=local_time.end_of_day(valid_until, zone) if valid_until else None,
    )
    _store_evidence(licence, evidence)
    try:
        _save_with_files(licence)
    except IntegrityError as exc:
        # Two regulators entering the same licence at once: the unique constraint decides.
        raise Conflict(
            _("%(authority)s has already issued a licence numbered %(number)s.")
            % {"authority": issuing_authority, "number": number},
            code="DUPLICATE_LICENCE_NUMBER",
            field="number",
        ) from exc
    LicenceEvent.objects.create(
        licence=licence,
        kind=LicenceEvent.Kind.ISSUED,
        effective_at=licence.starts_at,
        reason=_reason(reason, required=False),
        actor=by,
        evidence=licence.evidence.name if licence.evidence else "",
        evidence_sha256=licence.evidence_sha256,
        new_valid_until=valid_until,
        new_ends_at=licence.ends_at,
        new_activities=activities,
    )
    return licence


def _locked_state(licence: Licence, at: datetime) -> Licence:
    # One change per licence at a time: a second regulator waits here and then sees the first's event.
    Licence.objects.select_for_update().filter(pk=licence.pk).values_list("pk", flat=True).get()
    return Licence.objects.with_state(at).select_related("facility__organisation").get(pk=licence.pk)


def _refuse_state(state: str, licence: Licence, *, allowed: set[str]) -> None:
    if state in allowed:
        return
    messages = {
        "revoked": (_("Licence %(number)s has been revoked; it cannot change any more."), "LICENCE_REVOKED"),
        "expired": (_("Licence %(number)s had expired by then."), "LICENCE_EXPIRED"),
        "pending": (_("Licence %(number)s was not yet valid then."), "LICENCE_NOT_YET_VALID"),
        "suspended": (_("Licence %(number)s was already suspended then."), "LICENCE_ALREADY_SUSPENDED"),
        "active": (_("Licence %(number)s was not suspended then."), "LICENCE_NOT_SUSPENDED"),
    }
    message, code = messages[state]
    raise LicenceError(message % {"number": licence.number}, code=code)


def _append(
    *,
    by: User | None,
    licence: Licence,
    kind: str,
    effective_at: datetime,
    reason: str,
    evidence: UploadedFile | None,
    **changes: Any,
) -> LicenceEvent:
    event = LicenceEvent(
        licence=licence, kind=kind, effective_at=effective_at, reason=reason, actor=by, **changes
    )
    _store_evidence(event, evidence)
    _save_with_files(event)
    return event


@transaction.atomic
def renew_licence(
    *,
    by: User,
    licence: Licence,
    valid_until: date,
    reason: str,
    effective_at: datetime | None = None,
    evidence: UploadedFile | None = None,
) -> LicenceEvent:
    """Extend a licence's validity to `valid_until` (a renewal only ever moves the end later)."""
    _require(by, "licensing.manage_licence")
    reason = _reason(reason)
    effective_at = _aware(effective_at)
    current = _locked_state(licence, effective_at)
    _refuse_state(current.state, current, allowed={"active", "suspended", "expired"})
    if current.current_valid_until is None:
        raise LicenceError(
            _("Licence %(number)s has no fixed term; there is nothing to renew.")
            % {"number": current.number},
            code="LICENCE_OPEN_ENDED",
        )
    if valid_until <= current.current_valid_until:
        raise InvalidInput(
            _("A renewal must extend the licence beyond %(until)s.")
            % {"until": current.current_valid_until.isoformat()},
            code="RENEWAL_NOT_LATER",
            field="valid_until",
        )
    event = _append(
        by=by,
        licence=current,
        kind=LicenceEvent.Kind.RENEWED,
        effective_at=effective_at,
        reason=reason,
        evidence=evidence,
        new_valid_until=valid_until,
        new_ends_at=local_time.end_of_day(valid_until, current.facility.timezone),
    )
    _notify_facility(
        event, _("Licence %(number)s renewed") % {"number": current.number}, Notification.Level.INFO
    )
    return event


@transaction.atomic
def change_licence_scope(
    *,
    by: User,
    licence: Licence,
    activities: Iterable[str],
    reason: str,
    effective_at: datetime | None = None,
    evidence: UploadedFile | None = None,
) -> LicenceEvent:
    """Replace the activities a licence permits from `effective_at` on."""
    _require(by, "licensing.manage_licence")
    activities = clean_activities(activities)
    reason = _reason(reason)
    effective_at = _aware(effective_at)
    current = _locked_state(licence, effective_at)
    _refuse_state(current.state, current, allowed={"active", "suspended"})
    if sorted(current.current_activities) == sorted(activities):
        raise InvalidInput(
            _("Licence %(number)s already permits exactly these activities.") % {"number": current.number},
            code="SCOPE_UNCHANGED",
            field="activities",
        )
    event = _append(
        by=by,
        licence=current,
        kind=LicenceEvent.Kind.SCOPE_CHANGED,
        effective_at=effective_at,
        reason=reason,
        evidence=evidence,
        new_activities=activities,
    )
    _notify_facility(
        event,
        _("Scope of licence %(number)s changed") % {"number": current.number},
        Notification.Level.WARNING,
    )
    return event


@transaction.atomic
def suspend_licence(
    *,
    by: User,
    licence: Licence,
    reason: str,
    effective_at: datetime | None = None,
    evidence: UploadedFile | None = None,
) -> LicenceEvent:
    """Suspend an active licence from `effective_at` until it is reinstated."""
    return _change_state(
        by=by, licence=licence, reason=reason, effective_at=effective_at, evidence=evidence,
        kind=LicenceEvent.Kind.SUSPENDED, allowed={"active"},
        title=_("Licence %(number)s suspended"), level=Notification.Level.ALERT,
    )  # fmt: skip


@transaction.atomic
def reinstate_licence(
    *,
    by: User,
    licence: Licence,
    reason: str,
    effective_at: datetime | None = None,
    evidence: UploadedFile | None = None,
) -> LicenceEvent:
    """Lift a suspension from `effective_at` on (a revoked or expired licence cannot be reinstated)."""
    return _change_state(
        by=by, licence=licence, reason=reason, effective_at=effective_at, evidence=evidence,
        kind=LicenceEvent.Kind.REINSTATED, allowed={"suspended"},
        title=_("Licence %(number)s reinstated"), level=Notification.Level.INFO,
    )  # fmt: skip


@transaction.atomic
def revoke_licence(
    *,
    by: User,
    licence: Licence,
    reason: str,
    effective_at: datetime | None = None,
    evidence: UploadedFile | None = None,
) -> LicenceEvent:
    """Withdraw a licence for good from `effective_at`, which may lie in the past.

    A past effective time rewrites nothing: steps recorded under the licence since then are flagged by
    `selectors.flagged_by_revocation`, never deleted.
    """

    def not_revoked_yet(current: Licence) -> None:
        if current.state == "revoked" or selectors.revocation_of(licence_id=current.pk) is not None:
            raise LicenceError(
                _("Licence %(number)s has already been revoked.") % {"number": current.number},
                code="LICENCE_ALREADY_REVOKED",
            )

    return _change_state(
        by=by, licence=licence, reason=reason, effective_at=effective_at, evidence=evidence,
        kind=LicenceEvent.Kind.REVOKED, allowed={"active", "suspended", "pending"},
        title=_("Licence %(number)s revoked"), level=Notification.Level.ALERT, check=not_revoked_yet,
    )  # fmt: skip


def _change_state(
    *,
    by: User,
    licence: Licence,
    reason: str,
    effective_at: datetime | None,
    evidence: UploadedFile | None,
    kind: str,
    allowed: set[str],
    title: str,
    level: str,
    check: Callable[[Licence], None] | None = None,
) -> LicenceEvent:
    """Suspend, reinstate or revoke: the licence, locked, must be in an `allowed` state at
    `effective_at` (and pass `check`); the event is appended and the facility told (`title` names the
    licence by `%(number)s`)."""
    _require(by, "licensing.manage_licence")
    reason = _reason(reason)
    effective_at = _aware(effective_at)
    current = _locked_state(licence, effective_at)
    if check is not None:
        check(current)
    _refuse_state(current.state, current, allowed=allowed)
    event = _append(
        by=by,
        licence=current,
        kind=kind,
        effective_at=effective_at,
        reason=reason,
        evidence=evidence,
    )
    _notify_facility(event, title % {"number": current.number}, level)
    return event


def record_licence_event(
    *,
    by: User,
    licence: Licence,
    kind: str,
    reason: str,
    effective_at: datetime | None = None,
    valid_until: date | None = None,
    activities: Iterable[str] | None = None,
    evidence: UploadedFile | None = None,
) -> LicenceEvent:
    """Apply one of the regulator's actions named by its event kind (the API's and the page's entry point)."""
    _require(by, "licensing.manage_licence")
    common = {
        "by": by,
        "licence": licence,
        "reason": reason,
        "effective_at": effective_at,
        "evidence": evidence,
    }
    if kind == LicenceEvent.Kind.RENEWED:
        if valid_until is None:
            raise InvalidInput(_("A renewal needs the new valid-until date."), field="valid_until")
        return renew_licence(valid_until=valid_until, **common)
    if kind == LicenceEvent.Kind.SCOPE_CHANGED:
        if activities is None:
            raise InvalidInput(_("A scope change needs the new list of activities."), field="activities")
        return change_licence_scope(activities=activities, **common)
    actions = {
        LicenceEvent.Kind.SUSPENDED: suspend_licence,
        LicenceEvent.Kind.REINSTATED: reinstate_licence,
        LicenceEvent.Kind.REVOKED: revoke_licence,
    }
    if kind not in actions:
        raise InvalidInput(
            _("Unknown action %(kind)s; use renewed, scope_changed, suspended, reinstated or revoked.")
            % {"kind": kind},
            code="UNKNOWN_EVENT_KIND",
            field="kind",
        )
    return actions[kind](**common)


@transaction.atomic
def submit_evidence(*, by: User, licence: Licence, file: UploadedFile, note: str = "") -> LicenceEvidence:
    """Keep a document the facility submits for its licence (typically for a renewal)."""
    _require(by, "licensing.submit_evidence", licence)
    checked = check_evidence(file, field="file")
    submission = LicenceEvidence(
        licence=licence,
        file=file,
        sha256=checked.sha256,
        size=checked.size,
        content_type=checked.content_type,
        original_name=checked.original_name,
        note=(note or "").strip(),
        uploaded_by=by,
    )
    _save_with_files(submission)
    return submission


def ensure_permitted(*, facility: Facility, activity: str, at: datetime) -> Licence:
    """The licence that lets `facility` do `activity` at `at`; raises LicenceError saying why not."""
    if activity not in Activity.values:
        clean_activities([activity], field="activity")
    status = selectors.licence_status(facility=facility, activity=activity, at=_aware(at, field="at"))
    if not status.ok or status.licence is None:
        raise LicenceError(status.message, code=status.code)
    return status.licence
