"""Manufacturer codes and battery models: the OEM-side registry that battery codes refer to."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organisation, User
from core.errors import Conflict, InvalidInput, NotPermitted
from passport.models import CELL_VOLTAGE_WINDOWS, BatteryModel, Chemistry, ManufacturerCode, ProductType


@transaction.atomic
def allocate_manufacturer_code(*, code: str, oem: Organisation, by: User | None) -> ManufacturerCode:
    """Allocate a GB/T 34014 manufacturer code to an OEM (platform administrators only)."""
    if by is not None and not by.has_perm("passport.allocate_manufacturer_code"):
        raise NotPermitted(_("Only platform administrators allocate manufacturer codes."))
    code = code.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalnum():
        raise InvalidInput(
            _("A manufacturer code is 3 letters or digits."), code="MANUFACTURER_CODE_FORMAT", field="code"
        )
    if oem.kind != Organisation.Kind.OEM:
        raise InvalidInput(
            _("Manufacturer codes are allocated to OEMs only."), code="NOT_AN_OEM", field="oem"
        )
    existing = ManufacturerCode.objects.filter(code=code).select_related("oem").first()
    if existing is not None:
        raise Conflict(
            _("The manufacturer code %(code)s is already allocated to %(oem)s.")
            % {"code": code, "oem": existing.oem},
            code="MANUFACTURER_CODE_TAKEN",
            field="code",
        )
    return ManufacturerCode.objects.create(code=code, oem=oem)


def _decimal(value: Any, field: str, *, positive: bool = True) -> Decimal:
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise InvalidInput(_("%(field)s must be a number.") % {"field": field}, field=field) from None
    if not number.is_finite() or (positive and number <= 0):
        raise InvalidInput(_("%(field)s must be a positive number.") % {"field": field}, field=field)
    return number


@transaction.atomic
def create_battery_model(
    *,
    oem: Organisation,
    by: User | None,
    name: str,
    chemistry: str,
    product_type: str,
    rated_capacity_ah: Decimal | str,
    nominal_voltage_v: Decimal | str,
    rated_energy_kwh: Decimal | str,
    mass_kg: Decimal | str,
    cell_count: int,
    configuration: str = "",
    expected_cycle_life: int | None = None,
    expected_lifetime_years: int | None = None,
    cell_voltage_min_v: Decimal | str | None = None,
    cell_voltage_max_v: Decimal | str | None = None,
) -> BatteryModel:
    """Describe one of the OEM's battery designs; the cell-voltage window defaults to the chemistry's."""
    if by is not None and not by.has_perm("passport.manage_models"):
        raise NotPermitted(_("Only an OEM's operators and administrators describe its battery models."))
    if by is not None and not by.is_superuser and by.organisation != oem:
        raise NotPermitted(_("You may describe only your own organisation's battery models."))
    if oem.kind != Organisation.Kind.OEM:
        raise InvalidInput(_("Battery models belong to OEMs."), code="NOT_AN_OEM", field="oem")
    name = name.strip()
    if not name:
        raise InvalidInput(_("The model designation is required."), field="name")
    if chemistry not in Chemistry.values:
        raise InvalidInput(
            _("Unknown chemistry %(value)r; expected one of %(allowed)s.")
            % {"value": chemistry, "allowed": ", ".join(Chemistry.values)},
            field="chemistry",
        )
    if product_type not in ProductType.values:
        raise InvalidInput(
            _("The product type must be P (pack), M (module) or C (cell)."), field="product_type"
        )
    if cell_count < 1:
        raise InvalidInput(_("A battery has at least one cell."), field="cell_count")
    default_min, default_max = CELL_VOLTAGE_WINDOWS[chemistry]
    window_min = (
        _decimal(cell_voltage_min_v, "cell_voltage_min_v") if cell_voltage_min_v is not None else default_min
    )
    window_max = (
        _decimal(cell_voltage_max_v, "cell_voltage_max_v") if cell_voltage_max_v is not None else default_max
    )
    if window_min >= window_max:
        raise InvalidInput(
            _("The cell-voltage window must have its minimum below its maximum."), field="cell_voltage_min_v"
        )
    if BatteryModel.objects.filter(oem=oem, name=name).exists():
        raise Conflict(
            _("%(oem)s already has a model named %(name)s.") % {"oem": oem, "name": name},
            code="MODEL_EXISTS",
            field="name",
        )
    return BatteryModel.objects.create(
        oem=oem,
        name=name,
        chemistry=chemistry,
        product_type=product_type,
        rated_capacity_ah=_decimal(rated_capacity_ah, "rated_capacity_ah"),
        nominal_voltage_v=_decimal(nominal_voltage_v, "nominal_voltage_v"),
        rated_energy_kwh=_decimal(rated_energy_kwh, "rated_energy_kwh"),
        mass_kg=_decimal(mass_kg, "mass_kg"),
        cell_count=cell_count,
        configuration=configuration.strip().upper(),
        expected_cycle_life=expected_cycle_life,
        expected_lifetime_years=expected_lifetime_years,
        cell_voltage_min_v=window_min,
        cell_voltage_max_v=window_max,
    )
