"""Batch intake: many batteries in one transaction, set-based, all of them or none."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import DomainError
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.services import IntakeItem, record_intakes
from custody.transparency.models import PendingLeaf
from passport.models import Battery
from passport.services import RegistrationRequest, register_batteries
from tests.factories import gbt_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


def packs(oem_admin, count: int, start: int = 20) -> list[str]:
    codes = [gbt_code("HNC", serial=serial) for serial in range(start, start + count)]
    register_batteries(
        requests=[RegistrationRequest(code=code, model="HN-LFP-280-PACK") for code in codes], by=oem_admin
    )
    return codes


def test_a_batch_takes_every_battery_in_with_its_own_chain_link(
    hnc_models, oem_admin, recycler_operator, recycler_site
):
    codes = packs(oem_admin, 5)
    events = record_intakes(
        by=recycler_operator, facility=recycler_site, items=[IntakeItem(code=code) for code in codes]
    )
    assert [event.battery.code for event in events] == codes
    for event in events:
        first = CustodyEvent.objects.get(battery=event.battery, seq=0)
        assert event.seq == 1
        assert json.loads(event.body)["prev_hash"] == bytes(first.hash).hex()
        assert PendingLeaf.objects.filter(event_hash=event.hash).exists()
    assert set(Battery.objects.filter(code__in=codes).values_list("status", "current_custodian")) == {
        ("in_custody", recycler_operator.organisation.pk)
    }


def test_a_batch_costs_the_same_queries_for_ten_or_forty_batteries(
    hnc_models, oem_admin, recycler_operator, recycler_site
):
    warm, small, large = packs(oem_admin, 1, start=90), packs(oem_admin, 10), packs(oem_admin, 40, start=100)
    # The first step at a site reads its licence history; later ones reuse the answer.
    record_intakes(by=recycler_operator, facility=recycler_site, items=[IntakeItem(code=warm[0])])
    with CaptureQueriesContext(connection) as few:
        record_intakes(
            by=recycler_operator, facility=recycler_site, items=[IntakeItem(code=code) for code in small]
        )
    with CaptureQueriesContext(connection) as many:
        record_intakes(
            by=recycler_operator, facility=recycler_site, items=[IntakeItem(code=code) for code in large]
        )
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    ("case", "code"),
    [("unknown", "BATTERY_NOT_FOUND"), ("twice", "DUPLICATE_IN_REQUEST"), ("recycled", "ILLEGAL_TRANSITION")],
)
def test_one_bad_item_refuses_the_whole_batch_naming_it(
    hnc_models, oem_admin, recycler_operator, recycler_site, case, code
):
    codes = packs(oem_admin, 3)
    if case == "unknown":
        codes[2] = gbt_code("HNC", serial=999)
    elif case == "twice":
        codes[2] = codes[0]
    else:
        Battery.objects.filter(code=codes[2]).update(status="recycled")
    before = CustodyEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        record_intakes(
            by=recycler_operator, facility=recycler_site, items=[IntakeItem(code=code) for code in codes]
        )
    assert caught.value.code == code
    assert caught.value.field == "items[2].code"
    assert CustodyEvent.objects.count() == before
    assert not Battery.objects.filter(status="in_custody").exists()
