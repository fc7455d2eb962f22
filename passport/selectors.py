"""Reads: the passport as a reader of a given tier sees it, key validity, dashboard figures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import get_language

from accounts.models import Organisation
from core.db import PreparedLookup, PreparedRows
from passport import access, qr
from passport.attributes import PUBLIC, TIER_LABELS, PassportAttribute, served_for
from passport.codes import BATTERY_TYPES
from passport.models import Battery, CloneAlert, DeviceKey, ManufacturerCode
from passport.summary import CustodySummary, custody_summary
from passport.verdict import Verdict, compute_verdict

MAX_LISTED_COMPONENTS = 200


def manufacturer_lookup(code: str) -> str | None:
    """The name of the OEM a manufacturer code is allocated to, or None."""
    return ManufacturerCode.objects.filter(code=code).values_list("oem__name", flat=True).first()


def manufacturer_owners(codes: set[str]) -> dict[str, Organisation]:
    """Owners of several manufacturer codes, in one query."""
    return {
        row.code: row.oem for row in ManufacturerCode.objects.filter(code__in=codes).select_related("oem")
    }


def key_valid_at(key: DeviceKey, at: datetime) -> bool:
    """Whether `key` may sign at `at`: inside its window and not revoked at that instant."""
    if at < key.valid_from or (key.valid_until is not None and at >= key.valid_until):
        return False
    return not any(revocation.effective_at <= at for revocation in key.revocations.all())


@dataclass(frozen=True)
class AttributeValue:
    attribute: PassportAttribute
    value: Any

    @property
    def display(self) -> str:
        value = self.value
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        if isinstance(value, dict):
            return ", ".join(str(v) for v in value.values() if v not in (None, ""))
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return "" if value is None else str(value)

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, Decimal):
            value = str(value)
        return {
            "name": self.attribute.name,
            "label": str(self.attribute.label),
            "value": value,
            "unit": self.attribute.unit,
            "tier": self.attribute.tier,
            "catenax": self.attribute.catenax,
            "extension": self.attribute.is_extension,
        }


@dataclass(frozen=True)
class Passport:
    """A battery's passport as one reader may see it."""

    battery: Battery
    tier: str
    attributes: tuple[AttributeValue, ...]
    verdict: Verdict
    custody: CustodySummary
    components: tuple[str, ...]
    component_count: int  # MAX_LISTED_COMPONENTS + 1 means "more than are listed"

    @property
    def tier_label(self) -> str:
        return str(TIER_LABELS[self.tier])

    @property
    def more_components(self) -> bool:
        return self.component_count > MAX_LISTED_COMPONENTS

    @property
    def url(self) -> str:
        return qr.passport_url(self.battery.code)

    def value(self, name: str) -> Any:
        return next((item.value for item in self.attributes if item.attribute.name == name), None)


def public_page_key(code: str, language: str) -> str:
    """The cache key of the shared anonymous rendering of `code`'s passport in `language`."""
    digest = hashlib.sha256(f"{settings.PUBLIC_BASE_URL}|{code}".encode()).hexdigest()
    return f"passport:page:{language}:{digest}"


def shared_public_page(code: str) -> tuple[bytes, dict[str, str]] | None:
    """The shared anonymous rendering of `code` in the current language (body, headers), if fresh."""
    return cache.get(public_page_key(code, get_language()))


def share_public_page(code: str, language: str, entry: tuple[bytes, dict[str, str]]) -> None:
    """Keep a rendering for every anonymous reader (see `passport.fastpath`): the page as sent, with
    the headers the middleware stack gave it. It carries nothing per reader (no CSRF token, no
    session), so one rendering serves all."""
    cache.set(public_page_key(code, language), entry, timeout=settings.PASSPORT_PAGE_CACHE_SECONDS)


def forget_public_page(code: str) -> None:
    """Drop the shared public rendering of a passport (call when its public data or verdict changes)."""
    cache.delete_many([public_page_key(code, language) for language, _name in settings.LANGUAGES])


# No ORDER BY: the code is unique, and ordering costs more to compile than the lookup to run. Prepared:
# every first view of a passport runs it, and PostgreSQL took longer to plan its joins than to run them.
_passport_lookup = PreparedLookup(lambda code: Battery.objects.for_passport().order_by().filter(code=code))


# The first components of a pack or module, and one more to tell that there are more.
_component_codes = PreparedRows(
    lambda battery_id: (
        Battery.objects.filter(parent_id=battery_id)
        .order_by("code")
        .values_list("code")[: MAX_LISTED_COMPONENTS + 1]
    ),
    placeholders=(-1,),
)


def battery_for_passport(code: str) -> Battery | None:
    """The battery registered under `code`, with what its passport shows, in one query."""
    return _passport_lookup.get(code)


def _scaled(voltage: Decimal, series: int | None) -> Decimal | None:
    return (voltage * series).quantize(Decimal("0.001")) if series else None


def _attribute_values(battery: Battery, tier: str) -> dict[str, Any]:
    model = battery.battery_model
    values: dict[str, Any] = {
        "batteryPassportIdentifier": qr.passport_url(battery.code),
        "productIdentifier": battery.code,
        "manufacturerInformation": {"name": battery.oem.name, "country": battery.oem.country},
        "manufacturingDate": battery.production_date.isoformat(),
        "productType": battery.get_product_type_display(),
        "origin": battery.get_origin_display(),
        "parentIdentifier": battery.parent.code if battery.parent_id else None,
        "originalIdentifier": battery.original.code if battery.original_id else None,
        "currentCustodian": battery.current_custodian.name,
        "batteryStatus": battery.get_status_display(),
        "registeredBy": battery.registered_by.name,
        "registeredAt": battery.registered_at.isoformat(),
    }
    if model is not None:
        series = model.series_count
        values.update(
            {
                "batteryModel": model.name,
                "batteryChemistry": model.get_chemistry_display(),
                "ratedCapacity": model.rated_capacity_ah,
                "ratedEnergy": model.rated_energy_kwh,
                "nominalVoltage": model.nominal_voltage_v,
                "minimumVoltage": _scaled(model.cell_voltage_min_v, series),
                "maximumVoltage": _scaled(model.cell_voltage_max_v, series),
                "cellVoltageWindow": f"{model.cell_voltage_min_v}–{model.cell_voltage_max_v}",
                "cellConfiguration": f"{model.cell_count} ({model.configuration})"
                if model.configuration
                else str(model.cell_count),
                "batteryMass": model.mass_kg,
                "expectedNumberOfCycles": model.expected_cycle_life,
                "expectedLifetime": model.expected_lifetime_years,
            }
        )
    elif battery.battery_type:
        values["batteryChemistry"] = str(BATTERY_TYPES.get(battery.battery_type, ""))
    return values


def passport_for(*, battery: Battery, user: Any, at: datetime | None = None) -> Passport:
    """Assemble the passport of `battery` at the tier `user` holds (a fixed number of queries)."""
    moment = at or timezone.now()
    tier = access.tier_for(battery, user, at=moment)
    values = _attribute_values(battery, tier)
    attributes = tuple(
        AttributeValue(attribute, values[attribute.name])
        for attribute in served_for(tier)
        if values.get(attribute.name) not in (None, "")
    )
    components: tuple[str, ...] = ()
    component_count = 0
    if battery.product_type != "C":
        listed = [code for (code,) in _component_codes.rows(battery.pk)]
        # One query whatever the size: the first components are listed, and "more" past them.
        component_count = len(listed)
        components = tuple(listed[:MAX_LISTED_COMPONENTS])
    return Passport(
        battery=battery,
        tier=tier,
        attributes=attributes,
        verdict=compute_verdict(battery, at=moment),
        custody=custody_summary(battery),
        components=components,
        component_count=component_count,
    )


def public_tier_only(passport: Passport) -> bool:
    return passport.tier == PUBLIC


def dashboard_figures(organisation: Organisation) -> dict[str, Any]:
    """Counts for the dashboard panel: registered and held batteries, recent clone alerts."""
    figures = Battery.objects.aggregate(
        registered=Count("pk", filter=Q(oem=organisation)),
        verified=Count("pk", filter=Q(oem=organisation, origin=Battery.Origin.VERIFIED)),
        in_custody=Count("pk", filter=Q(current_custodian=organisation)),
    )
    alerts = CloneAlert.objects.filter(
        Q(battery__oem=organisation) | Q(attempted_by=organisation)
    ).select_related("attempted_by")
    figures["clone_alert_count"] = alerts.count()
    figures["clone_alerts"] = list(alerts[:5])
    return figures
