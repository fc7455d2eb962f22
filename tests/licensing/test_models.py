from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from core.errors import AppendOnlyViolation
from licensing.models import Licence, LicenceEvent
from tests.factories import LicenceFactory

pytestmark = pytest.mark.django_db


def _raw(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_licence_event_refuses_orm_update_and_delete(licence):
    event = licence.events.get()
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        event.save()
    with pytest.raises(AppendOnlyViolation):
        event.delete()
    with pytest.raises(AppendOnlyViolation):
        LicenceEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyViolation):
        LicenceEvent.objects.filter(pk=event.pk).delete()


def test_licence_refuses_orm_update(licence):
    licence.valid_until = licence.valid_until.replace(year=2030)
    with pytest.raises(AppendOnlyViolation):
        licence.save()


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("UPDATE licensing_licenceevent SET reason = 'x' WHERE licence_id = %s", "event"),
        ("DELETE FROM licensing_licenceevent WHERE licence_id = %s", "event"),
        ("UPDATE licensing_licence SET valid_until = '2030-01-01' WHERE id = %s", "licence"),
        ("DELETE FROM licensing_licence WHERE id = %s", "licence"),
    ],
)
def test_database_trigger_refuses_raw_update_and_delete(licence, sql, table):
    with pytest.raises(DatabaseError):
        _raw(sql, [licence.pk])
    assert Licence.objects.get(pk=licence.pk).valid_until == licence.valid_until
    assert licence.events.count() == 1


def test_licence_number_is_unique_per_authority(licence):
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenceFactory(facility=licence.facility, number=licence.number)
    LicenceFactory(facility=licence.facility, number=licence.number, issuing_authority="Another Bureau")


def test_licence_valid_until_before_valid_from_is_refused_by_the_database(facility):
    from datetime import date

    with pytest.raises(IntegrityError), transaction.atomic():
        LicenceFactory(facility=facility, valid_from=date(2026, 1, 2), valid_until=date(2026, 1, 1))


def test_licence_is_revoked_at_most_once(licence):
    licence.events.create(kind="revoked", effective_at=licence.starts_at, reason="first")
    with pytest.raises(IntegrityError), transaction.atomic():
        licence.events.create(kind="revoked", effective_at=licence.starts_at, reason="second")
