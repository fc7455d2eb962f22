"""Prepared statements of the scan page (core.db.PreparedLookup, PreparedRows): the same objects and rows
as the ORM's, one statement per query whatever the values, and queries that cannot be prepared refused."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count

from core.db import PreparedLookup, PreparedRows
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


def test_other_parameters_stay_as_compiled_and_the_value_must_be_one_of_them(postgres, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    registered = PreparedLookup(lambda code: Battery.objects.filter(code=code, status="registered"))
    assert registered.get(battery.code).pk == battery.pk
    recycled = PreparedLookup(lambda code: Battery.objects.filter(code=code, status="recycled"))
    assert recycled.get(battery.code) is None

    ignoring = PreparedLookup(lambda code: Battery.objects.filter(code=battery.code))
    with pytest.raises(ValueError, match="exactly once"):
        ignoring.get(battery.code)


def test_rows_come_in_the_order_values_list_asked_for(hnc):
    pack = BatteryFactory(manufacturer=hnc)
    for number in (2, 3):
        BatteryFactory(manufacturer=hnc, product_type="M", parent=pack, number=number)

    def build(oem_id):
        # The annotation comes first in the fields asked for, last in the SQL.
        return (
            Battery.objects.filter(oem_id=oem_id)
            .annotate(components=Count("children"))
            .order_by("code")
            .values_list("components", "code", "status")
        )

    expected = list(build(pack.oem_id))
    assert [row[0] for row in expected if row[1] == pack.code] == [2]
    assert PreparedRows(build, placeholders=(-1,)).rows(pack.oem_id) == expected
    assert PreparedRows(build, placeholders=(-1,)).rows(-42) == []


def test_a_placeholder_must_appear_exactly_once(postgres, hnc):
    BatteryFactory(manufacturer=hnc)
    twice = PreparedRows(
        lambda oem_id: Battery.objects.filter(oem_id=oem_id, registered_by_id=oem_id).values_list("code"),
        placeholders=(-1,),
    )
    with pytest.raises(ValueError, match="exactly once"):
        twice.rows(hnc.oem_id)


def test_only_plain_values_list_querysets_are_prepared_as_rows(postgres, hnc):
    BatteryFactory(manufacturer=hnc)
    flat = PreparedRows(
        lambda oem_id: Battery.objects.filter(oem_id=oem_id).values_list("code", flat=True),
        placeholders=(-1,),
    )
    with pytest.raises(ValueError, match="values_list"):
        flat.rows(hnc.oem_id)


def test_without_prepared_statements_the_same_sql_runs_on_djangos_cursor(postgres, settings, hnc):
    # Behind a pooler that drops prepared statements (PREPARED_HOT_STATEMENTS=false).
    settings.PREPARED_HOT_STATEMENTS = False
    battery = BatteryFactory(manufacturer=hnc)
    assert selectors.battery_for_passport(battery.code).pk == battery.pk
    pks = PreparedRows(lambda code: Battery.objects.filter(code=code).values_list("pk"), placeholders=("?",))
    assert pks.rows(battery.code) == [(battery.pk,)]
