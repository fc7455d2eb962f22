from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from licensing import selectors
from licensing.models import Licence
from tests.factories import LicenceFactory
from tests.licensing.conftest import local

pytestmark = pytest.mark.django_db


def _status(facility, at, activity="dismantling"):
    return selectors.licence_status(facility=facility, activity=activity, at=at)


def test_licence_status_covers_the_whole_last_local_day(settings, licence):
    settings.TIME_ZONE = "UTC"
    last_second = _status(licence.facility, local("2026-06-30 23:59:59"))
    assert last_second.ok
    assert last_second.licence == licence
    assert local("2026-06-30 23:59:59").astimezone(UTC) == datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)


def test_licence_status_is_expired_at_local_midnight_after_the_last_day(licence):
    midnight = _status(licence.facility, local("2026-07-01 00:00:00"))
    assert not midnight.ok
    assert midnight.code == "LICENCE_EXPIRED"
    assert midnight.licence == licence
    assert _status(licence.facility, datetime(2026, 6, 30, 16, 0, tzinfo=UTC)).code == "LICENCE_EXPIRED"
    assert _status(licence.facility, datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)).ok


def test_licence_status_starts_at_local_midnight_of_valid_from(licence):
    assert _status(licence.facility, local("2023-12-31 23:59:59")).code == "NO_LICENCE"
    assert _status(licence.facility, local("2024-01-01 00:00:00")).ok


def test_licence_status_reports_no_licence_for_a_bare_facility(facility):
    answer = _status(facility, local("2025-01-01 12:00"))
    assert (answer.ok, answer.code, answer.status, answer.licence) == (False, "NO_LICENCE", "none", None)


def test_licence_status_reports_scope_not_covered(facility):
    LicenceFactory(facility=facility, activities=["intake", "storage"])
    answer = _status(facility, local("2025-01-01 12:00"), activity="dismantling")
    assert answer.code == "SCOPE_NOT_COVERED"
    assert _status(facility, local("2025-01-01 12:00"), activity="storage").ok


def test_licence_status_follows_suspension_and_reinstatement(licence):
    licence.events.create(kind="suspended", effective_at=local("2025-03-01 09:00"), reason="inspection")
    licence.events.create(kind="reinstated", effective_at=local("2025-04-01 09:00"), reason="fixed")
    assert _status(licence.facility, local("2025-03-01 08:59")).ok
    suspended = _status(licence.facility, local("2025-03-15 12:00"))
    assert (suspended.code, suspended.status) == ("LICENCE_SUSPENDED", "suspended")
    assert _status(licence.facility, local("2025-04-01 09:00")).ok


def test_licence_status_after_revocation_is_final(licence):
    licence.events.create(kind="revoked", effective_at=local("2025-05-01 00:00"), reason="fraud")
    assert _status(licence.facility, local("2025-04-30 23:59:59")).ok
    assert _status(licence.facility, local("2025-05-01 00:00")).code == "LICENCE_REVOKED"
    assert _status(licence.facility, local("2026-12-01 00:00")).code == "LICENCE_REVOKED"


def test_licence_status_follows_renewal_from_its_effective_time(licence):
    licence.events.create(
        kind="renewed",
        effective_at=local("2026-07-05 10:00"),
        new_valid_until=date(2031, 6, 30),
        new_ends_at=local("2031-07-01 00:00"),
        reason="renewed late",
    )
    assert _status(licence.facility, local("2026-07-03 12:00")).code == "LICENCE_EXPIRED"
    assert _status(licence.facility, local("2026-07-05 10:00")).ok
    assert _status(licence.facility, local("2031-06-30 23:59:59")).ok
    assert _status(licence.facility, local("2031-07-01 00:00")).code == "LICENCE_EXPIRED"


def test_licence_status_follows_scope_change(licence):
    licence.events.create(
        kind="scope_changed",
        effective_at=local("2025-06-01 00:00"),
        new_activities=["intake"],
        reason="narrowed",
    )
    assert _status(licence.facility, local("2025-05-31 23:59")).ok
    assert _status(licence.facility, local("2025-06-01 00:00")).code == "SCOPE_NOT_COVERED"
    assert _status(licence.facility, local("2025-06-01 00:00"), activity="intake").ok


def test_licence_status_prefers_a_valid_covering_licence(licence):
    LicenceFactory(facility=licence.facility, kind="miit_recycling", valid_until=None)
    licence.events.create(kind="suspended", effective_at=local("2025-03-01 09:00"), reason="inspection")
    answer = _status(licence.facility, local("2025-03-02 00:00"))
    assert answer.ok
    assert answer.licence.kind == "miit_recycling"


def test_licence_status_reports_suspension_over_expiry_when_nothing_covers(licence):
    other = LicenceFactory(facility=licence.facility, valid_until=date(2024, 12, 31))
    licence.events.create(kind="suspended", effective_at=local("2025-03-01 09:00"), reason="inspection")
    answer = _status(licence.facility, local("2025-03-02 00:00"))
    assert answer.code == "LICENCE_SUSPENDED"
    assert answer.licence == licence
    assert other.pk != licence.pk


def test_with_state_ties_in_effective_time_go_to_the_later_recorded_event(licence):
    at = local("2025-03-01 09:00")
    licence.events.create(kind="suspended", effective_at=at, reason="first")
    licence.events.create(kind="reinstated", effective_at=at, reason="second")
    assert Licence.objects.with_state(at).get(pk=licence.pk).state == "active"


def test_flagged_by_revocation_marks_steps_recorded_before_a_retroactive_revocation(licence):
    revocation = licence.events.create(
        kind="revoked",
        effective_at=local("2025-05-01 00:00"),
        recorded_at=local("2025-06-01 00:00"),
        reason="fraud",
    )
    found = selectors.revocations_of(licence_ids=[licence.pk])[licence.pk]
    assert found == revocation
    assert selectors.flagged_by_revocation(
        revocation=found, occurred_at=local("2025-05-10 00:00"), recorded_at=local("2025-05-10 00:01")
    )
    assert not selectors.flagged_by_revocation(
        revocation=found, occurred_at=local("2025-04-30 00:00"), recorded_at=local("2025-04-30 00:01")
    )
    assert not selectors.flagged_by_revocation(
        revocation=None, occurred_at=local("2025-05-10 00:00"), recorded_at=local("2025-05-10 00:01")
    )


def test_revocations_affecting_lists_only_retroactive_revocations_reaching_the_span(licence):
    retroactive = licence.events.create(
        kind="revoked",
        effective_at=local("2025-05-01 00:00"),
        recorded_at=local("2025-06-01 00:00"),
        reason="fraud",
    )
    facility = licence.facility
    assert selectors.revocations_affecting(
        facility=facility, since=local("2025-05-15 00:00"), until=local("2025-05-20 00:00")
    ) == [retroactive]
    assert (
        selectors.revocations_affecting(
            facility=facility, since=local("2025-04-01 00:00"), until=local("2025-04-30 00:00")
        )
        == []
    )


def test_state_counts_are_scoped_to_the_users_organisation(
    licence, other_facility, recycler_admin, regulator
):
    LicenceFactory(facility=other_facility)
    at = local("2025-01-01 00:00")
    assert selectors.state_counts(user=recycler_admin, at=at)["active"] == 1
    assert selectors.state_counts(user=regulator, at=at)["active"] == 2
