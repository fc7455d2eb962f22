"""The passport's one-battery lookup through a prepared statement (core.db.PreparedLookup)."""

from __future__ import annotations

import pytest
from django.db import connection

from core.db import PreparedLookup
from passport import selectors
from passport.models import Battery
from tests.factories import BatteryFactory

pytestmark = pytest.mark.django_db

FIELDS = [field.attname for field in Battery._meta.concrete_fields]


def _same_battery(found: Battery, expected: Battery) -> None:
    assert [getattr(found, name) for name in FIELDS] == [getattr(expected, name) for name in FIELDS]


def test_lookup_matches_the_orm_with_every_related_object_loaded(
    hnc, recycler_org, django_assert_num_queries
):
    pack = BatteryFactory(manufacturer=hnc)
    module = BatteryFactory(manufacturer=hnc, product_type="M", parent=pack, current_custodian=recycler_org)
    expected = Battery.objects.for_passport().get(code=module.code)

    found = selectors.battery_for_passport(module.code)

    _same_battery(found, expected)
    with django_assert_num_queries(0):  # the joined rows came with it, converted like the ORM's
        assert found.oem == expected.oem
        assert found.current_custodian.name == recycler_org.name
        _same_battery(found.parent, pack)
        assert found.original is None
        assert found.registration_key is None
        assert found.battery_model.rated_capacity_ah == expected.battery_model.rated_capacity_ah
        assert found.registered_at == expected.registered_at
        assert found.registered_at.tzinfo is not None


def test_lookup_of_an_unknown_code_is_none(hnc):
    BatteryFactory(manufacturer=hnc)
    assert selectors.battery_for_passport("HNCPBAB1234567T2M9999999") is None


def test_lookup_is_prepared_once_per_postgresql_connection(postgres, hnc):
    first, second = BatteryFactory(manufacturer=hnc), BatteryFactory(manufacturer=hnc)
    lookup = PreparedLookup(lambda code: Battery.objects.for_passport().order_by().filter(code=code))

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%passport_battery%'"
            )
            return cursor.fetchone()[0]

    before = prepared()
    assert lookup.get(first.code).pk == first.pk
    assert lookup.get(second.code).pk == second.pk
    assert lookup.get("HNCPBAB1234567T2M9999999") is None
    assert prepared() == before + 1  # one statement for every value, planned by PostgreSQL once


def test_a_queryset_with_other_parameters_is_refused(postgres, hnc):
    # The SQL is compiled only where it is prepared; elsewhere the lookup is the ORM's own query.
    BatteryFactory(manufacturer=hnc)
    lookup = PreparedLookup(lambda code: Battery.objects.filter(code=code, status="registered"))
    with pytest.raises(ValueError, match="exactly one parameter"):
        lookup.get("HNCPBAB1234567T2M0000001")
