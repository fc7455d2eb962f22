"""An OEM registers batteries, a recycler prints their QR labels, and a buyer scans one: the passport
shows the verdict with its reasons, in English and in Chinese."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.core.cache import cache
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode
from rest_framework.test import APIClient

from passport import tasks
from passport.models import LabelSheet
from tests.conftest import PASSWORD
from tests.factories import BatteryModelFactory, ManufacturerCodeFactory, gbt_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PACK = gbt_code("HNC", product_type="P", serial=1)
MODULE = gbt_code("HNC", product_type="M", serial=2)


def test_buyer_scans_a_label_and_sees_the_verdict_in_english_and_chinese(
    page, login, settings, live_server, oem_admin, oem_org, recycler_operator, buyer_user
):
    settings.PUBLIC_BASE_URL = live_server.url  # the printed QR points at this server
    cache.clear()
    ManufacturerCodeFactory(code="HNC", oem=oem_org)
    BatteryModelFactory(oem=oem_org, name="HN-LFP-280-PACK")
    BatteryModelFactory(oem=oem_org, name="HN-LFP-MOD-16", module=True)

    # The OEM registers a pack and its module through the API.
    oem_api = APIClient()
    oem_api.force_authenticate(oem_admin)
    response = oem_api.post(
        "/api/v1/batteries/",
        [
            {"code": PACK, "model": "HN-LFP-280-PACK"},
            {"code": MODULE, "model": "HN-LFP-MOD-16", "parent_code": PACK},
        ],
        format="json",
    )
    assert response.status_code == 201, response.json()

    # A recycler that found a loose cell registers it (claimed) and prints its QR label.
    cell = gbt_code("HNC", product_type="C", serial=3)
    recycler_api = APIClient()
    recycler_api.force_authenticate(recycler_operator)
    assert recycler_api.post("/api/v1/batteries/", {"code": cell}, format="json").status_code == 201
    login(page, "recycler-operator", PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Batteries", exact=True).click()
    page.get_by_test_id(f"battery-row-{cell}").locator("input[type=checkbox]").check()
    page.get_by_test_id("print-labels").click()
    progress = page.get_by_test_id("label-progress")
    assert progress.get_attribute("data-status") == "pending"
    tasks.render_label_sheet(sheet_id=LabelSheet.objects.get().pk)  # what the worker does
    page.get_by_test_id("label-download").wait_for()
    with page.expect_download() as download:
        page.get_by_test_id("label-download").click()
    assert download.value.suggested_filename.endswith(".pdf")
    page.get_by_role("button", name="Log out").click()

    # The buyer's phone decodes the QR on the pack and opens the address it holds.
    image = APIClient().get(f"/api/v1/batteries/{PACK}/qr.png")
    (symbol,) = decode(Image.open(BytesIO(image.content)), symbols=[ZBarSymbol.QRCODE])
    scanned = symbol.data.decode()
    assert scanned == f"{live_server.url}/p/{PACK}"
    page.goto(scanned)
    assert page.locator("html").get_attribute("lang") == "en"
    verdict = page.get_by_test_id("verdict")
    assert verdict.get_attribute("data-state") == "incomplete"
    assert "Not fully verifiable yet" in verdict.inner_text()
    assert page.get_by_test_id("reason-origin").get_attribute("data-state") == "passed"
    assert "Registered by the manufacturer" in page.get_by_test_id("reason-origin").inner_text()
    for reason in ("licensed_sites", "bms_history", "chain_intact"):
        assert page.get_by_test_id(f"reason-{reason}").get_attribute("data-state") == "unavailable"
    assert page.get_by_test_id("attribute-batteryChemistry").is_visible()
    assert page.get_by_test_id("passport").get_attribute("data-tier") == "public"
    assert page.get_by_test_id("components").inner_text().count(MODULE) == 1

    # Same page in Chinese: the language switch keeps the buyer on the passport.
    with page.expect_navigation():
        page.get_by_label("Language").select_option("zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.url.endswith(f"/p/{PACK}")
    assert page.get_by_test_id("verdict").get_attribute("data-state") == "incomplete"
    assert page.get_by_test_id("reason-origin").get_attribute("data-state") == "passed"
    assert page.get_by_test_id("attribute-batteryChemistry").is_visible()

    # The claimed cell tells the buyer that its origin is not verified.
    page.goto("/scan/")
    page.get_by_test_id("code-input").fill(cell.lower())
    page.get_by_test_id("code-submit").click()
    assert page.url.endswith(f"/p/{cell}")
    assert page.get_by_test_id("verdict").get_attribute("data-state") == "not_verified"
    assert page.get_by_test_id("reason-origin").get_attribute("data-state") == "failed"


def test_buyer_typing_an_unregistered_code_is_warned_it_may_be_counterfeit(page, oem_org):
    ManufacturerCodeFactory(code="HNC", oem=oem_org)
    page.goto("/scan/")
    page.get_by_test_id("code-input").fill(PACK)
    page.get_by_test_id("code-submit").click()
    assert page.get_by_test_id("not-registered").is_visible()
    page.goto("/scan/")
    page.get_by_test_id("code-input").fill("HNCPBAB1234567T2M00000O1")
    page.get_by_test_id("code-submit").click()
    error = page.get_by_test_id("code-error")
    assert error.get_attribute("data-code") == "SERIAL_FORMAT"
    assert "23" in error.inner_text()
