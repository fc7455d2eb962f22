"""The history-request API: status codes, permissions, error codes and the response shape."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from crossborder import services as crossborder_services
from custody.history.document import verify_history
from custody.transparency.keys import log_signer
from tests.custody.history_setup import VIN, pack_with_history

pytestmark = pytest.mark.django_db

PURPOSE = "Due diligence before buying the pack for stationary storage"
URL = "/api/v1/history-requests/"


@pytest.fixture
def pack(oem_org, oem_admin, recycler_org):
    return pack_with_history(oem_org=oem_org, oem_admin=oem_admin, custodian=recycler_org)


def _ask(client, pack):
    response = client.post(URL, {"battery": pack.code, "purpose": PURPOSE}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_ask_approve_refuse_then_download_through_the_api(
    api_as, pack, buyer_user, recycler_admin, regulator
):
    created = _ask(api_as(buyer_user), pack)
    assert created["status"] == "requested"
    assert created["role"] == "requester"
    assert created["requester"]["country"] == "DE"
    assert [event["kind"] for event in created["events"]] == ["requested"]

    custodian = api_as(recycler_admin)
    inbox = custodian.get(f"{URL}?role=custodian&status=requested").json()
    assert [item["id"] for item in inbox["results"]] == [created["id"]]
    assert inbox["results"][0]["role"] == "custodian"
    approved = custodian.post(f"{URL}{created['id']}/approve", {"reason": "Sale under NDA"}, format="json")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"

    buyer = api_as(buyer_user)  # one client: from here on it is the buyer's
    refused = buyer.get(f"{URL}{created['id']}/download")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "CROSS_BORDER_NOT_APPROVED"
    detail = buyer.get(f"{URL}{created['id']}/").json()
    assert detail["status"] == "approved"
    assert detail["last_refusal"]["code"] == "CROSS_BORDER_NOT_APPROVED"

    now = timezone.now()
    crossborder_services.record_approval(
        by=regulator,
        holder=pack.current_custodian,
        recipient=buyer_user.organisation,
        destination_country="DE",
        data_classes=["telemetry"],
        basis="standard_contract",
        reference="SCC-2026-77",
        valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(days=30),
    )
    downloaded = buyer.get(f"{URL}{created['id']}/download")
    assert downloaded.status_code == 200
    assert downloaded["Content-Type"] == "application/json"
    assert f'filename="bms-history-{pack.code}-{created["id"]}.json"' in downloaded["Content-Disposition"]
    assert VIN.encode() not in downloaded.content
    document = json.loads(downloaded.content)
    verify_history(document, log_signer().verifier)  # raises if changed or signed by another key
    detail = buyer.get(f"{URL}{created['id']}/").json()
    assert detail["status"] == "delivered"
    assert detail["last_refusal"] is None
    assert detail["deliveries"][0]["cross_border"] is True


def test_request_errors_carry_their_codes(api_as, pack, buyer_user, recycler_admin):
    buyer = api_as(buyer_user)
    unknown = buyer.post(URL, {"battery": "A1BPB96LFP0009R3C0000999", "purpose": PURPOSE}, format="json")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "BATTERY_NOT_FOUND")
    vague = buyer.post(URL, {"battery": pack.code, "purpose": "x"}, format="json")
    assert (vague.status_code, vague.json()["error"]["code"]) == (400, "PURPOSE_REQUIRED")
    _ask(buyer, pack)
    twice = buyer.post(URL, {"battery": pack.code, "purpose": PURPOSE}, format="json")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "HISTORY_REQUEST_PENDING")
    own = api_as(recycler_admin).post(URL, {"battery": pack.code, "purpose": PURPOSE}, format="json")
    assert (own.status_code, own.json()["error"]["code"]) == (422, "HISTORY_REQUEST_TO_SELF")


def test_decisions_belong_to_the_custodians_administrators(
    api_as, pack, buyer_user, recycler_operator, recycler_admin, other_recycler_admin
):
    created = _ask(api_as(buyer_user), pack)
    approve = f"{URL}{created['id']}/approve"
    stranger = api_as(other_recycler_admin)
    assert stranger.get(f"{URL}{created['id']}/").status_code == 404
    assert stranger.post(approve, {"reason": "ok"}, format="json").status_code == 404
    assert stranger.get(URL).json()["results"] == []
    buyer_decides = api_as(buyer_user).post(approve, {"reason": "ok"}, format="json")
    assert (buyer_decides.status_code, buyer_decides.json()["error"]["code"]) == (403, "NOT_CUSTODIAN")
    operator = api_as(recycler_operator).post(approve, {"reason": "ok"}, format="json")
    assert (operator.status_code, operator.json()["error"]["code"]) == (403, "NOT_PERMITTED")
    admin = api_as(recycler_admin)
    reasonless = admin.post(f"{URL}{created['id']}/reject", {}, format="json")
    assert (reasonless.status_code, reasonless.json()["error"]["code"]) == (400, "REASON_REQUIRED")
    rejected = admin.post(f"{URL}{created['id']}/reject", {"reason": "Not for sale"}, format="json")
    assert rejected.json()["status"] == "rejected"
    again = admin.post(approve, {"reason": "ok"}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "HISTORY_REQUEST_NOT_PENDING")
    download = api_as(buyer_user).get(f"{URL}{created['id']}/download")
    assert (download.status_code, download.json()["error"]["code"]) == (409, "HISTORY_REQUEST_REJECTED")
    custodian_download = api_as(recycler_admin).get(f"{URL}{created['id']}/download")
    assert (custodian_download.status_code, custodian_download.json()["error"]["code"]) == (
        403,
        "HISTORY_NOT_YOURS",
    )


def test_the_list_costs_the_same_queries_for_one_request_or_many(
    api_as, pack, buyer_user, recycler_admin, django_assert_num_queries, oem_org, oem_admin
):
    from tests.factories import lfp_battery

    client = api_as(recycler_admin)
    _ask(api_as(buyer_user), pack)
    with django_assert_num_queries(4):  # count, requests with their parties, events, deliveries
        assert client.get(URL).json()["count"] == 1
    for number in range(3):
        other = lfp_battery(
            oem_org, code=f"A1BPB96LFP0001R3C000020{number}", custodian=pack.current_custodian
        )
        _ask(api_as(buyer_user), other)
    with django_assert_num_queries(4):
        assert client.get(URL).json()["count"] == 4
