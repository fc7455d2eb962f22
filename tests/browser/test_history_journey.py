"""A buyer in Germany asks, in Chromium, for the BMS history of a pack a recycler in China holds: the
recycler's administrator approves, the download is refused for want of a cross-border approval and the
buyer sees why; once a regulator records the approval, the buyer downloads a signed, scrubbed history."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from custody.history.document import verify_history
from custody.history.models import HistoryRequest
from custody.transparency.keys import log_signer
from tests.conftest import PASSWORD
from tests.custody.history_setup import PLANTED, pack_with_history, record_transfer_approval

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_buyer_in_germany_gets_a_scrubbed_history_once_the_transfer_is_approved(
    page, login, tmp_path, oem_org, oem_admin, recycler_org, recycler_admin, buyer_user, regulator
):
    cache.clear()
    pack = pack_with_history(oem_org=oem_org, oem_admin=oem_admin, custodian=recycler_org)

    # The buyer asks from the passport page.
    login(page, "buyer", PASSWORD)
    page.goto(f"/p/{pack.code}")
    page.get_by_test_id("request-history").click()
    assert page.get_by_label("Battery code").input_value() == pack.code
    page.get_by_label("Purpose").fill("Due diligence before buying the pack for stationary storage")
    page.get_by_test_id("history-request-submit").click()
    request = HistoryRequest.objects.get()
    made = page.get_by_test_id(f"made-{request.pk}")
    assert made.get_attribute("data-status") == "requested"
    page.get_by_role("button", name="Log out").click()

    # The recycler's administrator approves, with a reason, after confirming.
    login(page, "recycler-admin", PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="History requests").click()
    pending = page.get_by_test_id(f"approve-form-{request.pk}")
    pending.get_by_label("Reason").fill("Sale negotiation under NDA 2026-14")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id(f"approve-{request.pk}").click()
    page.get_by_test_id(f"decided-{request.pk}").wait_for()
    page.get_by_role("button", name="Log out").click()

    # The buyer's first download is refused: no cross-border approval is on record.
    login(page, "buyer", PASSWORD)
    page.goto("/custody/history-requests/")
    page.get_by_test_id(f"download-{request.pk}").click()
    refusal = page.get_by_test_id(f"refusal-{request.pk}")
    refusal.wait_for()
    assert refusal.get_attribute("data-code") == "CROSS_BORDER_NOT_APPROVED"
    assert "No transfer approval is on record" in refusal.inner_text()
    assert page.get_by_test_id(f"made-{request.pk}").get_attribute("data-status") == "approved"

    # A regulator records the approval; the same button now delivers the signed history.
    record_transfer_approval(regulator, pack, buyer_user.organisation)
    page.reload()
    with page.expect_download() as download_info:
        page.get_by_test_id(f"download-{request.pk}").click()
    saved = tmp_path / "history.json"
    download_info.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert not [identifier for identifier in PLANTED if identifier in text]
    document = json.loads(text)
    verify_history(document, log_signer().verifier)  # raises if changed or signed by another key
    assert document["payload"]["battery"]["code"] == pack.code
    assert len(document["payload"]["snapshots"]) == 3
    page.reload()
    assert page.get_by_test_id(f"made-{request.pk}").get_attribute("data-status") == "delivered"
    assert page.get_by_test_id(f"refusal-{request.pk}").count() == 0
