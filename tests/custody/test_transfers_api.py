"""The transfers API: offer, accept, reject, cancel, with their error codes."""

from __future__ import annotations

import pytest

from custody import services
from custody.events.licences import forget_all

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


@pytest.fixture
def held_pack(registered_pack, recycler_operator, recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    return registered_pack


def test_offer_then_accept_through_the_api(
    api_as, held_pack, recycler_operator, other_recycler_admin, other_recycler_site
):
    response = api_as(recycler_operator).post(
        "/api/v1/transfers/",
        {
            "battery": held_pack.code,
            "to_organisation": other_recycler_site.organisation_id,
            "to_facility": other_recycler_site.pk,
            "idempotency_key": "t-1",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    transfer = response.json()
    assert transfer["status"] == "pending"
    assert transfer["subject"] == {
        "kind": "battery",
        "code": held_pack.code,
    }
    receiver = api_as(other_recycler_admin)
    assert [item["id"] for item in receiver.get("/api/v1/transfers/?status=pending").json()["results"]] == [
        transfer["id"]
    ]
    accepted = receiver.post(
        f"/api/v1/transfers/{transfer['id']}/accept", {"idempotency_key": "acc"}, format="json"
    )
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    again = receiver.post(
        f"/api/v1/transfers/{transfer['id']}/accept", {"idempotency_key": "acc"}, format="json"
    )
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"


def test_transfer_errors_are_reported_with_their_codes(
    api_as, held_pack, recycler_operator, recycler_site, other_recycler_site, buyer_user
):
    client = api_as(recycler_operator)
    to_self = client.post(
        "/api/v1/transfers/",
        {
            "battery": held_pack.code,
            "to_organisation": recycler_operator.organisation.pk,
            "to_facility": recycler_site.pk,
        },
        format="json",
    )
    assert to_self.status_code == 422
    assert to_self.json()["error"]["code"] == "TRANSFER_TO_SELF"
    created = client.post(
        "/api/v1/transfers/",
        {
            "battery": held_pack.code,
            "to_organisation": other_recycler_site.organisation_id,
            "to_facility": other_recycler_site.pk,
        },
        format="json",
    ).json()
    stranger = api_as(buyer_user).post(f"/api/v1/transfers/{created['id']}/accept", {}, format="json")
    assert stranger.status_code == 404
    assert stranger.json()["error"]["code"] == "TRANSFER_NOT_FOUND"
    assert api_as(buyer_user).get(f"/api/v1/transfers/{created['id']}/").status_code == 404
    client = api_as(recycler_operator)  # api_as re-authenticates one shared client
    sender = client.post(f"/api/v1/transfers/{created['id']}/accept", {}, format="json")
    assert sender.status_code == 403
    assert sender.json()["error"]["code"] == "TRANSFER_NOT_ADDRESSED_TO_YOU"
    second = client.post(
        "/api/v1/transfers/",
        {
            "battery": held_pack.code,
            "to_organisation": other_recycler_site.organisation_id,
            "to_facility": other_recycler_site.pk,
        },
        format="json",
    )
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "TRANSFER_PENDING"
    cancelled = client.post(
        f"/api/v1/transfers/{created['id']}/cancel", {"reason": "changed plan"}, format="json"
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"


def test_the_receiver_rejects_through_the_api(
    api_as, held_pack, recycler_operator, other_recycler_admin, other_recycler_site
):
    created = (
        api_as(recycler_operator)
        .post(
            "/api/v1/transfers/",
            {
                "battery": held_pack.code,
                "to_organisation": other_recycler_site.organisation_id,
                "to_facility": other_recycler_site.pk,
            },
            format="json",
        )
        .json()
    )
    rejected = api_as(other_recycler_admin).post(
        f"/api/v1/transfers/{created['id']}/reject", {"reason": "full"}, format="json"
    )
    assert rejected.status_code == 200
    assert rejected.json()["reason"] == "full"


@pytest.mark.parametrize("field", ["to_organisation", "to_facility", "from_facility"])
def test_an_offer_naming_an_id_past_what_json_holds_is_refused_naming_the_field(
    api_as, held_pack, recycler_operator, other_recycler_site, field
):
    payload = {
        "battery": held_pack.code,
        "to_organisation": other_recycler_site.organisation_id,
        "to_facility": other_recycler_site.pk,
        field: 10**19,
    }
    response = api_as(recycler_operator).post("/api/v1/transfers/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["field"] == field
