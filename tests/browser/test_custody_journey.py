"""A battery's custody in Chromium: the OEM registers a pack (API), a recycler takes it in after
checking origin and licence, grades it and hands it to another recycler, who accepts, dismantles it
and recycles its modules into a material lot whose page traces it back to the pack and its OEM."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.lots.models import MaterialLot
from tests.conftest import PASSWORD
from tests.factories import gbt_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PACK = gbt_code("HNC", product_type="P", serial=1)
MODULES = [gbt_code("HNC", product_type="M", serial=2), gbt_code("HNC", product_type="M", serial=3)]


def test_a_pack_goes_from_registration_to_a_material_lot(
    page,
    login,
    hnc_models,
    oem_admin,
    recycler_operator,
    recycler_site,
    other_recycler_admin,
    other_recycler_site,
):
    cache.clear()
    forget_all()
    oem_api = APIClient()
    oem_api.force_authenticate(oem_admin)
    response = oem_api.post(
        "/api/v1/batteries/",
        [{"code": PACK, "model": "HN-LFP-280-PACK"}]
        + [{"code": module, "model": "HN-LFP-MOD-16", "parent_code": PACK} for module in MODULES],
        format="json",
    )
    assert response.status_code == 201, response.json()

    # Intake: the checks show before anything is recorded.
    login(page, "recycler-operator", PASSWORD)
    page.goto("/custody/intake/")
    page.get_by_test_id("intake-code").fill(PACK.lower())
    page.get_by_label("Site").select_option(label="Ganzhou plant")
    page.get_by_test_id("intake-check").click()
    preview = page.get_by_test_id("intake-preview")
    preview.wait_for()
    assert preview.get_attribute("data-ready") == "true"
    assert "Registered by the manufacturer" in page.get_by_test_id("check-origin").inner_text()
    assert "covered by licence" in page.get_by_test_id("check-licence").inner_text()
    assert not CustodyEvent.objects.filter(type="intake").exists()
    page.get_by_test_id("intake-confirm").click()
    page.get_by_test_id("event-1").wait_for()
    assert page.get_by_test_id("event-1").get_attribute("data-type") == "intake"

    # Grading, then an offer to the other recycler.
    page.get_by_test_id("battery-actions").click()
    page.get_by_test_id("step-graded").locator("summary").click()
    form = page.get_by_test_id("form-graded")
    form.locator("select[name=facility]").select_option(label="Ganzhou plant")
    form.locator("select[name=grade]").select_option("B")
    form.locator("input[name=method]").fill("0.5C capacity test")
    page.get_by_test_id("submit-graded").click()
    page.get_by_test_id("event-2").wait_for()
    page.get_by_test_id("battery-actions").click()
    page.get_by_test_id("step-transfer").locator("summary").click()
    page.get_by_test_id("form-transfer").locator("select[name=to_facility]").select_option(
        label="Other Recycler · Hunan plant"
    )
    page.get_by_test_id("submit-transfer").click()
    page.get_by_test_id(f"outgoing-{PACK}").wait_for()
    page.get_by_role("button", name="Log out").click()

    # The receiver accepts at its licensed site, dismantles the pack and recycles two modules.
    login(page, "other-recycler-admin", PASSWORD)
    page.goto("/custody/transfers/")
    page.get_by_test_id(f"accept-{PACK}").click()
    page.get_by_test_id("history").wait_for()
    page.goto(f"/custody/batteries/{PACK}/")
    page.get_by_test_id("step-dismantled").locator("summary").click()
    form = page.get_by_test_id("form-dismantled")
    form.locator("select[name=facility]").select_option(label="Hunan plant")
    form.locator("textarea[name=components]").fill("\n".join(MODULES))
    page.get_by_test_id("submit-dismantled").click()
    page.get_by_test_id("event-5").wait_for()
    assert page.get_by_test_id("event-5").get_attribute("data-type") == "dismantled"

    page.goto("/custody/recycle/")
    form = page.get_by_test_id("recycle-form")
    form.locator("select[name=facility]").select_option(label="Hunan plant")
    form.locator("textarea[name=inputs]").fill(f"{MODULES[0]}, 80\n{MODULES[1]}, 80")
    form.locator("input[name=losses_kg]").fill("1.5")
    form.locator("select[name=material_0]").select_option("black_mass")
    form.locator("input[name=mass_0]").fill("100")
    form.locator("select[name=material_1]").select_option("cathode_scrap")
    form.locator("input[name=mass_1]").fill("58.5")
    page.get_by_test_id("recycle-submit").click()
    page.get_by_test_id("lot-passport").wait_for()

    # The lot's public page traces it back to every battery and the OEM, licensed all the way.
    lot = MaterialLot.objects.get(code=page.get_by_test_id("lot-code").inner_text().strip())
    assert lot.material == "black_mass"
    assert str(lot.mass_kg) == "100.000"
    assert page.get_by_test_id("lot-trace").get_attribute("data-lawful") == "true"
    assert page.get_by_test_id("trace-oems").inner_text() == "CATL Demo OEM"
    batteries = page.get_by_test_id("trace-batteries").inner_text()
    assert all(code in batteries for code in [PACK, *MODULES])
    assert page.get_by_test_id("lot-qr").is_visible()

    # The public passport of the pack now shows where it has been.
    page.goto(f"/p/{PACK}")
    summary = page.get_by_test_id("custody-summary")
    assert summary.get_attribute("data-available") == "true"
    assert "Ganzhou plant" in summary.inner_text()
    assert "Hunan plant" in summary.inner_text()
    assert page.get_by_test_id("reason-licensed_sites").get_attribute("data-state") == "passed"
