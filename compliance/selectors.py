"""The five-point checklist for an organisation or one facility, and who may read which.

Every colour comes from queries over the real rows; the number of queries is fixed (set-based
aggregates), whatever the number of facilities, licences, batteries or snapshots. The thresholds
(`compliance.thresholds`):

1. Dismantling licence validity (licensing's `Licence.with_state`, custody events with the licence and
   its status at the time of each step). Red: in the last 90 days a licensed custody step happened
   without a licence in force, under a licence later revoked with effect from before the step (a
   retroactive revocation recorded in the window also flags older steps), or a facility no longer holds
   an active licence for an activity it performed in those 90 days. Amber: a licence in force expires
   within 30 days, a licence is suspended (with no uncovered activity), or a facility holds no licence
   in force at all. Green otherwise, including an organisation with no facilities.
2. Traceability to the original OEM (`Battery.origin` of the batteries it made or holds; for a
   facility, those with a custody step there). Green: at least 99% verified and none disputed. Amber:
   at least 90% verified and none disputed. Red: below 90%, or any battery whose origin is disputed.
3. BMS data retained at least 8 years (snapshots it reported or of batteries it made or holds; for a
   facility, of batteries with a step there or signed by its devices). Red: a payload past its
   retention by more than the retention report's grace (48 hours: the daily job plus one missed run),
   not under a legal hold and not shredded; a snapshot kept less than 8 x 365 days after capture; a
   payload shredded before its retention ended; a retention setting under 8 years. Amber: payloads
   shredded after the grace, or packs past registration with no BMS snapshot at all (a re-coded unit
   counts its original's). Green otherwise.
4. Stored telemetry encrypted to a named standard (AES-256-GCM or SM4-GCM, per-record data keys
   wrapped by the key ring of `KEY_ENCRYPTION_KEYS`). Red: an unshredded payload without a recognised
   cipher, ciphertext or wrapped key (plaintext), or wrapped by a key no longer in the ring. Amber:
   payloads wrapped by an older key of the ring (run `manage.py rotate_keys`), or no successful rotation
   (its `JobRun`) in 365 days while the key protects data received more than 365 days ago.
5. Exports (`crossborder.selectors.export_summary` over the last 30 days). Red: the scanner blocked an
   anonymised export that still carried an identifier (nothing left, but the scrubbing failed). Amber:
   a transfer was refused for want of an approval, or an approval expires within 30 days. Green
   otherwise.

Who reads which: a member sees the checklist of their own organisation and its facilities; auditors and
regulators those of facilities in their own country and of organisations based there or running a
facility there; platform administrators all.
Anything else is a 404, like an object that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Organisation
from compliance.checklist import Checklist, Scope
from compliance.points import encryption, exports, licences, origin, retention
from licensing.models import Facility

AUTHORITY_KINDS = (Organisation.Kind.AUDITOR, Organisation.Kind.REGULATOR)
EVALUATORS = (licences.evaluate, origin.evaluate, retention.evaluate, encryption.evaluate, exports.evaluate)


def _checklist(scope: Scope, at: datetime | None) -> Checklist:
    moment = at or timezone.now()
    return Checklist(
        organisation=scope.organisation,
        facility=scope.facility,
        at=moment,
        points=tuple(evaluate(scope, moment) for evaluate in EVALUATORS),
    )


def checklist_for_organisation(*, organisation: Organisation, at: datetime | None = None) -> Checklist:
    """The five points for an organisation across all its facilities, batteries and snapshots."""
    return _checklist(Scope(organisation=organisation), at)


def checklist_for_facility(*, facility: Facility, at: datetime | None = None) -> Checklist:
    """The five points for one facility (exports are its organisation's)."""
    return _checklist(Scope(organisation=facility.organisation, facility=facility), at)


def _sees_all(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def _authority_country(user: Any) -> str | None:
    organisation = getattr(user, "organisation", None)
    if user.is_authenticated and user.is_active and organisation is not None and organisation.is_authority:
        return str(organisation.country)
    return None


def is_checklist_authority(user: Any) -> bool:
    """Auditors, regulators and platform administrators: they choose which checklist to read."""
    return _sees_all(user) or _authority_country(user) is not None


def organisations_for(user: Any) -> QuerySet[Organisation]:
    """The organisations whose checklist `user` may read (authorities are never checked themselves)."""
    organisations = Organisation.objects.exclude(kind__in=AUTHORITY_KINDS)
    if _sees_all(user):
        return organisations
    country = _authority_country(user)
    if country is not None:
        in_country = Facility.objects.filter(organisation=OuterRef("pk"), country=country)
        return organisations.filter(Q(country=country) | Q(Exists(in_country)))
    own = getattr(user, "organisation", None) if user.is_authenticated and user.is_active else None
    if own is None:
        return Organisation.objects.none()
    return organisations.filter(pk=own.pk)


def facilities_for(user: Any) -> QuerySet[Facility]:
    """The facilities whose checklist `user` may read: its own organisation's, or those in its country."""
    facilities = Facility.objects.select_related("organisation")
    if _sees_all(user):
        return facilities
    country = _authority_country(user)
    if country is not None:
        return facilities.filter(country=country)
    return facilities.filter(organisation__in=organisations_for(user))
