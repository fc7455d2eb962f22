"""Regulator suspends a licence with a reason and a confirmation; the facility sees it suspended."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import PASSWORD
from tests.factories import FacilityFactory, LicenceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_regulator_suspends_a_licence_and_the_facility_sees_it(
    page, login, regulator, recycler_admin, recycler_org
):
    facility = FacilityFactory(organisation=recycler_org, name="Ganzhou Dismantling Works", province="CN-JX")
    licence = LicenceFactory(facility=facility, number="JXHW-7788", valid_until=date(2099, 12, 31))

    login(page, "regulator", PASSWORD)
    page.get_by_role("link", name="Facilities", exact=True).click()
    page.get_by_role("link", name="Ganzhou Dismantling Works").click()
    assert page.get_by_test_id(f"licence-status-{licence.pk}").inner_text() == "Active"

    action = page.get_by_test_id(f"action-suspended-{licence.pk}")
    action.locator("summary").click()
    action.get_by_label("Reason").fill("Inspection found damaged packs outside the fire-separated area.")
    questions: list[str] = []

    def accept(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        action.locator("button[type=submit]").click()
    assert questions
    assert "Suspend this licence?" in questions[0]
    assert page.get_by_test_id(f"licence-status-{licence.pk}").inner_text() == "Suspended"
    assert "Inspection found damaged packs" in page.get_by_test_id(f"timeline-{licence.pk}").inner_text()

    page.get_by_role("button", name="Log out").click()
    login(page, "recycler-admin", PASSWORD)
    page.get_by_role("link", name="Facilities", exact=True).click()
    row = page.get_by_test_id(f"facility-row-{facility.pk}")
    assert row.get_by_test_id(f"licence-status-{licence.pk}").inner_text() == "Suspended"
    row.get_by_role("link", name="Ganzhou Dismantling Works").click()
    assert page.get_by_test_id(f"regulator-actions-{licence.pk}").count() == 0
    assert "Inspection found damaged packs" in page.get_by_test_id(f"timeline-{licence.pk}").inner_text()


def test_regulator_dismissing_the_confirmation_changes_nothing(page, login, regulator, recycler_org):
    facility = FacilityFactory(organisation=recycler_org, name="Nanchang Depot", province="CN-JX")
    licence = LicenceFactory(facility=facility, valid_until=date(2099, 12, 31))
    login(page, "regulator", PASSWORD)
    page.goto(f"/facilities/{facility.pk}/")
    action = page.get_by_test_id(f"action-revoked-{licence.pk}")
    action.locator("summary").click()
    action.get_by_label("Reason").fill("Changed my mind")
    page.once("dialog", lambda dialog: dialog.dismiss())
    action.locator("button[type=submit]").click()
    page.reload()
    assert licence.events.count() == 1
    assert page.get_by_test_id(f"licence-status-{licence.pk}").inner_text() == "Active"
