from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError

from passport.models import BatteryModel
from tests.factories import BatteryFactory, BatteryModelFactory

pytestmark = pytest.mark.django_db


def test_battery_code_is_unique(hnc):
    battery = BatteryFactory(manufacturer=hnc)
    with pytest.raises(IntegrityError):
        BatteryFactory(manufacturer=hnc, code=battery.code)


def test_gs1_fields_must_match_the_scheme(hnc):
    with pytest.raises(IntegrityError):
        BatteryFactory(manufacturer=hnc, scheme="gs1")


def test_battery_cannot_be_its_own_parent(hnc):
    battery = BatteryFactory(manufacturer=hnc)
    battery.parent = battery
    with pytest.raises(IntegrityError):
        battery.save()


def test_battery_model_cell_window_must_be_ordered(oem_org):
    with pytest.raises(IntegrityError):
        BatteryModelFactory(oem=oem_org, cell_voltage_min_v=Decimal("3.7"), cell_voltage_max_v=Decimal("2.5"))


@pytest.mark.parametrize(
    ("configuration", "series"), [("96S2P", 96), ("16s1p", 16), ("", None), ("2P", None)]
)
def test_battery_model_reads_cells_in_series(configuration, series):
    assert BatteryModel(configuration=configuration).series_count == series
