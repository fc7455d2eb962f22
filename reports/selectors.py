"""Reads for reports: resolving a requested scope to the subjects the requester may read.

A report covers batteries and material lots. What a requester may put in a report is what it may read
of their custody chain elsewhere (`passport.access.tier_for`: legitimate interest or authority):
- auditors and regulators: the batteries of their jurisdiction (made or held in their country), the lots
  held or produced there, the facilities and organisations of their country;
- everyone else: the batteries they made, hold or were granted, the lots they hold or produced, their
  own facilities and their own organisation.
Named items (battery and lot codes, a facility, an organisation) that the requester may not see are
refused by name; subjects that a facility or organisation selection reaches but the requester may not
read are left out and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organisation
from custody.events.models import CustodyEvent, EventSnapshot
from custody.lots.models import MaterialLot
from licensing.models import Facility
from passport import access, codes
from passport.attributes import AUTHORITY, LEGITIMATE_INTEREST
from passport.models import Battery
from reports.errors import ScopeNotVisible
from reports.models import Report

CHUNK = 2_000
LISTED = 10  # how many refused items an error names


@dataclass(frozen=True)
class ScopeRequest:
    """A scope as asked for: explicit codes, and/or the events at a facility or by an organisation."""

    battery_codes: Sequence[str] = ()
    lot_codes: Sequence[str] = ()
    facility_id: int | None = None
    organisation_id: int | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.battery_codes or self.lot_codes or self.facility_id or self.organisation_id)


@dataclass
class ResolvedScope:
    """The subjects of a report, each checked against what the requester may read."""

    battery_ids: list[int] = field(default_factory=list)
    lot_ids: list[int] = field(default_factory=list)
    excluded: int = 0
    facility: Facility | None = None
    organisation: Organisation | None = None

    @property
    def subject_count(self) -> int:
        return len(self.battery_ids) + len(self.lot_ids)


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


_REFUSALS = {
    "BATTERY_NOT_FOUND": ("battery_codes", gettext_lazy("No battery %(items)s that you may see.")),
    "LOT_NOT_FOUND": ("lot_codes", gettext_lazy("No material lot %(items)s that you may see.")),
    "FACILITY_NOT_FOUND": ("facility", gettext_lazy("No facility %(items)s that you may see.")),
    "ORGANISATION_NOT_FOUND": ("organisation", gettext_lazy("No organisation %(items)s that you may see.")),
}


def _refuse(code: str, items: list[str]) -> ScopeNotVisible:
    """The refusal naming what may not be seen (unknown and invisible items read the same)."""
    field, template = _REFUSALS[code]
    message = str(template) % {"items": ", ".join(items[:LISTED])}
    if len(items) > LISTED:
        message += " " + _("(and %(count)d more)") % {"count": len(items) - LISTED}
    return ScopeNotVisible(message, code=code, field=field)


def battery_reader_filter(user: Any) -> Q:
    """Batteries whose custody chain `user` reads without a per-battery check (see the module docstring)."""
    organisation = user.organisation
    if user.is_superuser:
        return Q()
    if organisation.is_authority:
        return Q(oem__country=organisation.country) | Q(current_custodian__country=organisation.country)
    return Battery.objects.scope_for(organisation)


def lot_reader_filter(user: Any) -> Q:
    organisation = user.organisation
    if user.is_superuser:
        return Q()
    if organisation.is_authority:
        return Q(current_custodian__country=organisation.country) | Q(
            produced_by__country=organisation.country
        )
    return MaterialLot.objects.scope_for(organisation)


def _readable_codes(user: Any, wanted: list[str]) -> dict[str, int]:
    """code -> id of the named batteries `user` may read; a second, per-battery look at the rest asks
    `tier_for` (legitimate interest granted by other apps' rules, such as a pending transfer)."""
    found: dict[str, int] = {}
    reader = battery_reader_filter(user)
    for chunk in _chunks(wanted):
        found.update(Battery.objects.filter(reader, code__in=chunk).values_list("code", "pk"))
    rest = [code for code in wanted if code not in found]
    if rest:
        for chunk in _chunks(rest):
            for battery in Battery.objects.filter(code__in=chunk).select_related("oem", "current_custodian"):
                if access.tier_for(battery, user) in (LEGITIMATE_INTEREST, AUTHORITY):
                    found[battery.code] = battery.pk
    return found


def _facility_for(user: Any, facility_id: int) -> Facility:
    organisation = user.organisation
    facilities = Facility.objects.all()
    if not user.is_superuser:
        facilities = (
            facilities.filter(country=organisation.country)
            if organisation.is_authority
            else facilities.filter(organisation=organisation)
        )
    facility = facilities.filter(pk=facility_id).first()
    if facility is None:
        raise _refuse("FACILITY_NOT_FOUND", [str(facility_id)])
    return facility


def _organisation_for(user: Any, organisation_id: int) -> Organisation:
    own = user.organisation
    organisations = Organisation.objects.all()
    if not user.is_superuser:
        organisations = (
            organisations.filter(country=own.country) if own.is_authority else organisations.filter(pk=own.pk)
        )
    organisation = organisations.filter(pk=organisation_id).first()
    if organisation is None:
        raise _refuse("ORGANISATION_NOT_FOUND", [str(organisation_id)])
    return organisation


def _in_range(events: QuerySet[CustodyEvent], request: ScopeRequest) -> QuerySet[CustodyEvent]:
    if request.date_from is not None:
        events = events.filter(occurred_at__gte=request.date_from)
    if request.date_to is not None:
        events = events.filter(occurred_at__lt=request.date_to)
    return events


def resolve_scope(*, user: Any, request: ScopeRequest) -> ResolvedScope:
    """The subjects of a scope, refusing any named item the requester may not see (nothing is written)."""
    resolved = ResolvedScope()
    battery_ids: set[int] = set()
    lot_ids: set[int] = set()

    wanted = list(dict.fromkeys(codes.normalise(code) for code in request.battery_codes if code.strip()))
    if wanted:
        found = _readable_codes(user, wanted)
        missing = [code for code in wanted if code not in found]
        if missing:
            raise _refuse("BATTERY_NOT_FOUND", missing)
        battery_ids.update(found.values())

    lots_wanted = list(dict.fromkeys(code.strip().upper() for code in request.lot_codes if code.strip()))
    if lots_wanted:
        found_lots: dict[str, int] = {}
        reader = lot_reader_filter(user)
        for chunk in _chunks(lots_wanted):
            found_lots.update(MaterialLot.objects.filter(reader, code__in=chunk).values_list("code", "pk"))
        missing = [code for code in lots_wanted if code not in found_lots]
        if missing:
            raise _refuse("LOT_NOT_FOUND", missing)
        lot_ids.update(found_lots.values())

    if request.facility_id is not None:
        resolved.facility = _facility_for(user, request.facility_id)
    if request.organisation_id is not None:
        resolved.organisation = _organisation_for(user, request.organisation_id)
    if resolved.facility is not None or resolved.organisation is not None:
        events = _in_range(CustodyEvent.objects.all(), request)
        if resolved.facility is not None:
            events = events.filter(facility=resolved.facility)
        if resolved.organisation is not None:
            events = events.filter(actor=resolved.organisation)
        reached_batteries = Battery.objects.filter(
            pk__in=events.filter(battery__isnull=False).values("battery_id")
        )
        reached_lots = MaterialLot.objects.filter(pk__in=events.filter(lot__isnull=False).values("lot_id"))
        readable_batteries = set(
            reached_batteries.filter(battery_reader_filter(user)).values_list("pk", flat=True)
        )
        readable_lots = set(reached_lots.filter(lot_reader_filter(user)).values_list("pk", flat=True))
        resolved.excluded = (
            reached_batteries.count() - len(readable_batteries) + reached_lots.count() - len(readable_lots)
        )
        battery_ids |= readable_batteries
        lot_ids |= readable_lots

    resolved.battery_ids = _ordered(Battery, battery_ids)
    resolved.lot_ids = _ordered(MaterialLot, lot_ids)
    return resolved


def _ordered(model: Any, ids: set[int]) -> list[int]:
    """The ids in code order, so a report lists its subjects as people look them up."""
    pairs: list[tuple[str, int]] = []
    ordered = sorted(ids)
    for chunk in _chunks(ordered):
        pairs.extend(model.objects.filter(pk__in=chunk).values_list("code", "pk"))
    return [pk for _code, pk in sorted(pairs)]


def jurisdictions_of_scope(*, battery_ids: Sequence[int], lot_ids: Sequence[int]) -> list[str]:
    """The countries whose data the subjects are: each custodian's (`passport.access.data_jurisdiction_of`:
    the organisation holding a battery's data decides whose rules apply)."""
    countries: set[str] = set()
    for model, ids in ((Battery, battery_ids), (MaterialLot, lot_ids)):
        for chunk in _chunks(list(ids)):
            countries.update(
                model.objects.filter(pk__in=chunk)
                .values_list("current_custodian__country", flat=True)
                .distinct()
            )
    return sorted(countries)


def payload_holders(*, user: Any, battery_ids: Sequence[int]) -> list[Organisation]:
    """The data holders (custodians) of the batteries whose signed BMS payloads a bundle would carry for
    `user`: batteries it reads at the authority tier with an event relying on a snapshot."""
    organisation = user.organisation
    if not (user.is_superuser or organisation.is_authority):
        return []
    holder_ids: set[int] = set()
    for chunk in _chunks(list(battery_ids)):
        holder_ids.update(
            Battery.objects.filter(pk__in=chunk)
            .filter(Exists(EventSnapshot.objects.filter(event__battery=OuterRef("pk"))))
            .values_list("current_custodian_id", flat=True)
            .distinct()
        )
    return list(Organisation.objects.filter(pk__in=holder_ids).order_by("name"))


def reports_for(user: Any) -> QuerySet[Report]:
    """The requester's organisation's reports, newest first, with their files (not the resolved subject
    ids, which only the build reads)."""
    return (
        Report.objects.visible_to(user)
        .defer("subjects")
        .select_related("requested_by")
        .prefetch_related("files")
    )
