"""A regulator opens a recycler's five-point checklist, reads each colour, and follows an evidence link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.compliance.builders import step
from tests.conftest import PASSWORD
from tests.factories import BatteryFactory, ManufacturerCodeFactory, licensed_facility

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_regulator_reads_the_checklist_and_follows_the_licence_evidence(
    page, login, regulator, recycler_org, oem_org
):
    # Like the demo's GreenCycle: a busy licensed works, a depot whose licence runs out in ten days, and
    # loose cells of claimed origin among the batteries it holds.
    works = licensed_facility(recycler_org, name="Ganzhou Dismantling Works")
    depot = licensed_facility(
        recycler_org, name="Nanchang Storage Depot", valid_until=timezone.localdate() + timedelta(days=10)
    )
    code = ManufacturerCodeFactory(code="HNC", oem=oem_org)
    pack = BatteryFactory(manufacturer=code, current_custodian=recycler_org, status="in_custody")
    step(pack, works, at=timezone.now() - timedelta(days=3), licence=works.licences.get())
    for _ in range(3):
        BatteryFactory(manufacturer=code, origin="claimed", current_custodian=recycler_org, product_type="C")

    login(page, "regulator", PASSWORD)
    page.get_by_role("link", name="Compliance", exact=True).click()
    page.get_by_test_id("choose-organisations").get_by_role("link", name=recycler_org.name).click()

    expected = {1: "amber", 2: "red", 3: "amber", 4: "green", 5: "green"}  # 3: the pack has no BMS data
    for number, colour in expected.items():
        badge = page.get_by_test_id(f"point-{number}-status")
        assert badge.get_attribute("data-status") == colour
        words = {"green": "Green: in order", "amber": "Amber: needs attention", "red": "Red: action required"}
        assert words[colour] in badge.inner_text()  # told in words, not by colour alone
    assert page.get_by_test_id("checklist-status").get_attribute("data-status") == "red"
    assert "expires on" in page.get_by_test_id("point-1-findings").inner_text()

    page.get_by_test_id("point-1-evidence").get_by_role("link", name=f"Licences of {depot.name}").click()
    page.wait_for_url(f"**/facilities/{depot.pk}/")
    assert page.get_by_role("heading", name=depot.name).is_visible()
