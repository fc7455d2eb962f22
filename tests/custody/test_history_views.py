"""History-request pages: the passport page's button, the request form, deciding and downloading."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from custody.history import services
from custody.history.models import HistoryRequest
from tests.custody.history_setup import pack_with_history, record_transfer_approval

pytestmark = pytest.mark.django_db

PURPOSE = "Due diligence before buying the pack for stationary storage"
LIST = "/custody/history-requests/"


@pytest.fixture
def pack(oem_org, oem_admin, recycler_org):
    cache.clear()  # the passport page is cached for anonymous readers
    return pack_with_history(oem_org=oem_org, oem_admin=oem_admin, custodian=recycler_org)


def test_the_passport_page_offers_the_request_to_other_organisations_only(
    client, pack, buyer_user, recycler_admin
):
    page = f"/p/{pack.code}"
    assert 'data-testid="request-history"' not in client.get(page).text
    client.force_login(recycler_admin)
    assert 'data-testid="request-history"' not in client.get(page).text
    client.force_login(buyer_user)
    text = client.get(page).text
    assert f'href="/custody/history-requests/new/?battery={pack.code}"' in text


def test_the_request_form_sends_the_request_or_says_what_is_wrong(client, pack, buyer_user):
    client.force_login(buyer_user)
    form = client.get(f"/custody/history-requests/new/?battery={pack.code}")
    assert f'value="{pack.code}"' in form.text
    vague = client.post("/custody/history-requests/new/", {"battery": pack.code, "purpose": "x"})
    assert vague.status_code == 200
    assert not HistoryRequest.objects.exists()
    unknown = client.post(
        "/custody/history-requests/new/", {"battery": "A1BPB96LFP0009R3C0000999", "purpose": PURPOSE}
    )
    assert "No battery A1BPB96LFP0009R3C0000999 is registered." in unknown.text
    sent = client.post(
        "/custody/history-requests/new/", {"battery": pack.code, "purpose": PURPOSE}, follow=True
    )
    assert sent.redirect_chain[-1][0] == LIST
    request = HistoryRequest.objects.get()
    assert f'data-testid="made-{request.pk}" data-status="requested"' in sent.text


def test_the_custodians_administrator_decides_with_a_reason(
    client, pack, buyer_user, recycler_admin, recycler_operator
):
    request = services.request_history(by=buyer_user, battery_code=pack.code, purpose=PURPOSE)
    client.force_login(recycler_operator)
    assert "An administrator decides." in client.get(LIST).text
    client.force_login(recycler_admin)
    listing = client.get(LIST).text
    assert f'data-testid="approve-{request.pk}"' in listing
    assert PURPOSE in listing
    reasonless = client.post(f"{LIST}{request.pk}/approve/", {"reason": ""}, follow=True)
    assert "REASON_REQUIRED" in reasonless.text
    approved = client.post(f"{LIST}{request.pk}/approve/", {"reason": "Sale under NDA"}, follow=True)
    assert "released to Buyer GmbH" in approved.text
    assert HistoryRequest.objects.get().status == "approved"
    assert client.post(f"{LIST}{request.pk}/publish/", {"reason": "x"}).status_code == 404


def test_the_buyer_sees_why_a_download_was_refused_and_downloads_once_cleared(
    client, pack, buyer_user, recycler_admin, regulator
):
    request = services.request_history(by=buyer_user, battery_code=pack.code, purpose=PURPOSE)
    services.approve_history_request(by=recycler_admin, request=request, reason="Sale under NDA")
    client.force_login(buyer_user)
    refused = client.get(f"{LIST}{request.pk}/download/", follow=True)
    assert refused.redirect_chain[-1][0] == LIST
    assert f'data-testid="refusal-{request.pk}" data-code="CROSS_BORDER_NOT_APPROVED"' in refused.text
    record_transfer_approval(regulator, pack, buyer_user.organisation)
    downloaded = client.get(f"{LIST}{request.pk}/download/")
    assert downloaded.status_code == 200
    assert downloaded["Content-Disposition"].startswith("attachment;")
    assert json.loads(downloaded.content)["payload"]["battery"]["code"] == pack.code
    client.force_login(recycler_admin)
    assert client.get(f"{LIST}{request.pk}/download/", follow=True).redirect_chain[-1][0] == LIST
