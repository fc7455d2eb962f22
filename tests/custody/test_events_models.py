"""Custody events are append-only in the ORM and in the database, and a chain cannot fork."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from core.errors import AppendOnlyViolation
from custody.events.models import CustodyEvent, EventInput
from custody.services import record_intake

pytestmark = pytest.mark.django_db


def _refused(sql: str, params: list[object]) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_event_refuses_save_and_delete_through_the_orm(registered_pack):
    event = CustodyEvent.objects.get(battery=registered_pack)
    with pytest.raises(AppendOnlyViolation):
        event.save()
    with pytest.raises(AppendOnlyViolation):
        event.delete()
    with pytest.raises(AppendOnlyViolation):
        CustodyEvent.objects.filter(pk=event.pk).update(body="{}")
    with pytest.raises(AppendOnlyViolation):
        CustodyEvent.objects.all().delete()


def test_event_table_refuses_raw_update_and_delete(registered_pack):
    event = CustodyEvent.objects.get(battery=registered_pack)
    assert _refused("UPDATE custody_custodyevent SET body = %s WHERE id = %s", ["{}", event.pk])
    assert _refused("DELETE FROM custody_custodyevent WHERE id = %s", [event.pk])
    assert CustodyEvent.objects.get(pk=event.pk).body == event.body


def test_event_input_table_refuses_raw_update(registered_pack, recycler_operator, recycler_site):
    record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    from custody.services import record_dismantling

    record_dismantling(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        components=["HNCMBAB1234567T2M0000002"],
    )
    item = EventInput.objects.get()
    assert _refused("UPDATE custody_eventinput SET mass_kg = 1 WHERE id = %s", [item.pk])


def test_a_second_event_with_the_same_sequence_number_is_refused(registered_pack):
    event = CustodyEvent.objects.get(battery=registered_pack)
    fork = CustodyEvent(
        type="retired",
        battery=registered_pack,
        seq=0,
        actor=event.actor,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        hash=b"\x01" * 32,
        body="{}",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        fork.save()


def test_an_event_has_exactly_one_subject(registered_pack):
    event = CustodyEvent.objects.get(battery=registered_pack)
    orphan = CustodyEvent(
        type="retired",
        seq=5,
        prev_hash=b"\x00" * 32,
        actor=event.actor,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        hash=b"\x02" * 32,
        body="{}",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        orphan.save()
