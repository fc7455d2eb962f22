"""The whole checklist: five points, scoping by jurisdiction, and a query count that does not grow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Organisation
from compliance import selectors
from tests.compliance.builders import step
from tests.factories import (
    BatteryFactory,
    FacilityFactory,
    ManufacturerCodeFactory,
    OrganisationFactory,
    UserFactory,
    licensed_facility,
)
from tests.passport.snapshot_helpers import stored
from tests.snapshot_builders import lfp_history

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15  # 11 for points 1-4, 4 for crossborder's export summary


def test_checklist_has_the_five_points_in_order(oem_org):
    checklist = selectors.checklist_for_organisation(organisation=oem_org)
    assert [point.number for point in checklist.points] == [1, 2, 3, 4, 5]
    assert [point.key for point in checklist.points] == [
        "licences",
        "origin",
        "retention",
        "encryption",
        "exports",
    ]
    assert all(point.status in ("green", "amber", "red") for point in checklist.points)
    assert all(point.summary and point.rule and point.rule_code for point in checklist.points)
    assert checklist.scope == "organisation"


def test_checklist_overall_status_is_the_worst_point(recycler_org):
    site = licensed_facility(recycler_org)
    step(
        BatteryFactory(current_custodian=recycler_org),
        site,
        at=timezone.now() - timedelta(days=2),
        licence=None,
    )
    checklist = selectors.checklist_for_organisation(organisation=recycler_org)
    assert checklist.points[0].status == "red"
    assert checklist.status == "red"
    assert checklist.counts["red"] >= 1


def test_facility_checklist_is_scoped_to_the_facility(recycler_org):
    good = licensed_facility(recycler_org, name="Good")
    bad = licensed_facility(recycler_org, name="Bad")
    step(BatteryFactory(origin="claimed"), bad, at=timezone.now() - timedelta(days=1), licence=None)
    good_list = selectors.checklist_for_facility(facility=good)
    bad_list = selectors.checklist_for_facility(facility=bad)
    assert good_list.scope == "facility"
    assert (good_list.points[0].status, good_list.points[1].figures["batteries"]) == ("green", 0)
    assert (bad_list.points[0].status, bad_list.points[1].status) == ("red", "red")


def _populate(oem, recycler, oem_admin, count):
    """`count` facilities, batteries and snapshots more: the checklist must not issue more queries."""
    code = ManufacturerCodeFactory(code="HNC", oem=oem)
    for index in range(count):
        site = licensed_facility(recycler, name=f"Site {index}")
        battery = BatteryFactory(manufacturer=code, current_custodian=recycler, status="in_custody")
        step(battery, site, at=timezone.now() - timedelta(days=index + 1), licence=site.licences.get())


@pytest.mark.parametrize("count", [1, 6])
def test_checklist_query_count_is_bounded(
    count, oem_org, recycler_org, oem_admin, lfp_pack, oem_device_key, django_assert_max_num_queries
):
    _populate(oem_org, recycler_org, oem_admin, count)
    for payload in lfp_history(count):
        stored(payload, oem_org, oem_admin)
    for organisation in (recycler_org, oem_org):
        with django_assert_max_num_queries(MAX_QUERIES):
            selectors.checklist_for_organisation(organisation=organisation)
    facility = recycler_org.facilities.select_related("organisation").first()
    with django_assert_max_num_queries(MAX_QUERIES):
        selectors.checklist_for_facility(facility=facility)


def test_members_read_their_own_organisation_only(recycler_admin, recycler_org, other_recycler_org):
    assert list(selectors.organisations_for(recycler_admin)) == [recycler_org]
    site = licensed_facility(recycler_org)
    licensed_facility(other_recycler_org)
    assert list(selectors.facilities_for(recycler_admin)) == [site]


def test_authorities_read_organisations_and_facilities_of_their_country(
    regulator, auditor, recycler_org, buyer_org, oem_org, regulator_org
):
    german_recycler = OrganisationFactory(name="Rhein Recycling", kind="recycler", country="DE")
    FacilityFactory(organisation=german_recycler, country="DE", province="DE-BY")
    german_with_chinese_site = OrganisationFactory(name="Elbe Batteries", kind="second_life", country="DE")
    cn_sites = {licensed_facility(recycler_org), FacilityFactory(organisation=german_with_chinese_site)}
    for user in (regulator, auditor):
        organisations = set(selectors.organisations_for(user))
        assert {recycler_org, oem_org, german_with_chinese_site} <= organisations
        assert buyer_org not in organisations  # German
        assert german_recycler not in organisations  # German, with a site in Germany only
        assert regulator_org not in organisations  # authorities are not checked themselves
        assert set(selectors.facilities_for(user)) == cn_sites


def test_a_user_without_organisation_reads_nothing(recycler_org):
    licensed_facility(recycler_org)
    user = UserFactory()
    assert Organisation.objects.exists()
    assert not selectors.organisations_for(user).exists()
    assert not selectors.facilities_for(user).exists()
