"""Point 1, licence validity: green, amber and red from constructed licences and custody steps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from compliance.checklist import Scope
from compliance.points import licences
from licensing import services as licensing_services
from tests.compliance.builders import step
from tests.factories import BatteryFactory, FacilityFactory, LicenceFactory, licensed_facility

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def evaluate(organisation, facility=None, at=AT):
    return licences.evaluate(Scope(organisation=organisation, facility=facility), at)


def test_licence_point_is_green_when_every_recent_step_was_covered(recycler_org, oem_org):
    site = licensed_facility(recycler_org, name="Ganzhou plant")
    licence = site.licences.get()
    step(BatteryFactory(), site, at=AT - timedelta(days=5), licence=licence)

    result = evaluate(recycler_org)

    assert result.status == "green"
    assert result.rule_code == "LICENCE_OK"
    assert result.figures["licensed_steps_in_window"] == 1
    assert result.figures["licences_in_force"] == 1
    assert [link.url for link in result.evidence] == [f"/facilities/{site.pk}/", "/facilities/"]


def test_licence_point_is_green_for_an_organisation_without_facilities(oem_org):
    result = evaluate(oem_org)
    assert result.status == "green"
    assert result.figures["facilities"] == 0
    assert "No facilities" in result.summary


def test_licence_point_is_amber_when_a_licence_expires_within_30_days(recycler_org):
    licensed_facility(recycler_org, valid_until=date(2026, 3, 20))
    result = evaluate(recycler_org)
    assert result.status == "amber"
    assert result.figures["licences_expiring_soon"] == 1
    assert any("expires on 2026-03-20" in finding for finding in result.findings)


def test_licence_point_is_amber_when_a_licence_is_suspended_without_recent_activity(recycler_org, regulator):
    site = licensed_facility(recycler_org)
    licensing_services.suspend_licence(
        by=regulator, licence=site.licences.get(), reason="Inspection", effective_at=AT - timedelta(days=3)
    )
    result = evaluate(recycler_org)
    assert result.status == "amber"
    assert result.figures["licences_suspended"] == 1


def test_licence_point_is_amber_for_a_facility_with_no_licence_in_force(recycler_org):
    FacilityFactory(organisation=recycler_org, name="Unlicensed yard")
    result = evaluate(recycler_org)
    assert result.status == "amber"
    assert result.figures["facilities_without_licence_in_force"] == 1


def test_licence_point_is_red_for_a_recent_step_without_cover(recycler_org):
    site = licensed_facility(recycler_org)
    step(BatteryFactory(), site, at=AT - timedelta(days=10), licence=None)
    result = evaluate(recycler_org)
    assert result.status == "red"
    assert result.rule_code == "LICENCE_STEP_NOT_COVERED"
    assert result.figures["steps_without_cover"] == 1


def test_licence_point_ignores_uncovered_steps_older_than_the_window(recycler_org):
    site = licensed_facility(recycler_org)
    step(BatteryFactory(), site, at=AT - timedelta(days=200), licence=None)
    assert evaluate(recycler_org).status == "green"


def test_licence_point_is_red_when_a_retroactive_revocation_flags_a_step(recycler_org, regulator):
    site = licensed_facility(recycler_org)
    licence = site.licences.get()
    # An old step, accepted then; the revocation recorded in the window reaches back over it.
    step(BatteryFactory(), site, at=AT - timedelta(days=150), licence=licence,
         recorded_at=AT - timedelta(days=150))  # fmt: skip
    revocation = licensing_services.revoke_licence(
        by=regulator, licence=licence, reason="Falsified records", effective_at=AT - timedelta(days=200)
    )
    assert revocation.is_retroactive
    result = evaluate(recycler_org, at=max(AT, revocation.recorded_at + timedelta(minutes=1)))
    assert result.status == "red"
    assert result.figures["steps_flagged_by_retroactive_revocation"] == 1


def test_licence_point_is_red_when_an_activity_performed_lately_is_no_longer_covered(recycler_org):
    site = FacilityFactory(organisation=recycler_org)
    licence = LicenceFactory(facility=site, valid_until=date(2026, 2, 20))  # expired on 20 February
    step(BatteryFactory(), site, at=datetime(2026, 2, 10, tzinfo=UTC), licence=licence)
    result = evaluate(recycler_org)
    assert result.status == "red"
    assert result.figures["activities_without_cover_now"] == 1
    assert any("holds no licence in force for it now" in finding for finding in result.findings)


def test_licence_point_for_one_facility_reads_only_that_facility(recycler_org):
    good = licensed_facility(recycler_org, name="Good site")
    bad = licensed_facility(recycler_org, name="Bad site")
    step(BatteryFactory(), bad, at=AT - timedelta(days=1), licence=None)
    assert evaluate(recycler_org, facility=good).status == "green"
    assert evaluate(recycler_org, facility=bad).status == "red"
    assert evaluate(recycler_org).status == "red"
