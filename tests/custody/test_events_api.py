"""The battery events API: statuses, error envelopes, idempotency keys, scoping and query counts."""

from __future__ import annotations

import pytest

from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from tests.factories import FacilityFactory, gbt_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


def events_url(battery) -> str:
    return f"/api/v1/batteries/{battery.code}/events/"


def test_intake_through_the_api_returns_the_event_with_its_hash_and_proof(
    api_as, registered_pack, recycler_operator, recycler_site
):
    response = api_as(recycler_operator).post(
        events_url(registered_pack),
        {"type": "intake", "facility": recycler_site.pk, "idempotency_key": "a-1"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    event = CustodyEvent.objects.get(battery=registered_pack, seq=1)
    assert body["hash"] == bytes(event.hash).hex()
    assert body["type"] == "intake"
    assert body["seq"] == 1
    assert body["licence"]["status_then"] == "active"
    assert body["facility"]["id"] == recycler_site.pk
    assert body["body"]["prev_hash"] == body["prev_hash"]
    assert body["proof"] == {"leaf_index": None, "in_checkpoint": False, "checkpoint_size": 0}
    assert "Idempotent-Replayed" not in response


def test_a_retried_request_returns_the_first_result_and_a_changed_one_gets_409(
    api_as, registered_pack, recycler_operator, recycler_site
):
    client = api_as(recycler_operator)
    payload = {"type": "intake", "facility": recycler_site.pk}
    first = client.post(events_url(registered_pack), payload, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    again = client.post(events_url(registered_pack), payload, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    changed = client.post(
        events_url(registered_pack),
        {**payload, "note": "other"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="retry-1",
    )
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert changed.json()["error"]["field"] == "idempotency_key"
    assert CustodyEvent.objects.filter(battery=registered_pack).count() == 2


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unlicensed", 422, "NO_LICENCE"),
        ("unknown", 404, "BATTERY_NOT_FOUND"),
        ("recycled", 422, "ILLEGAL_TRANSITION"),
        ("bad_type", 400, "INVALID_INPUT"),
        ("foreign_site", 404, "FACILITY_NOT_FOUND"),
    ],
)
def test_bad_input_gets_its_code_and_writes_nothing(
    api_as, registered_pack, recycler_operator, recycler_site, other_recycler_site, case, status, code
):
    url, payload = events_url(registered_pack), {"type": "intake", "facility": recycler_site.pk}
    if case == "unlicensed":
        payload["facility"] = FacilityFactory(organisation=recycler_operator.organisation).pk
    elif case == "unknown":
        url = f"/api/v1/batteries/{gbt_code('HNC', serial=404)}/events/"
    elif case == "recycled":
        type(registered_pack).objects.filter(pk=registered_pack.pk).update(status="recycled")
    elif case == "bad_type":
        payload["type"] = "teleported"
    else:
        payload["facility"] = other_recycler_site.pk
    before = CustodyEvent.objects.count()
    response = api_as(recycler_operator).post(url, payload, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert CustodyEvent.objects.count() == before


def test_grading_a_foreign_battery_is_refused_with_403(
    api_as, registered_pack, other_recycler_admin, other_recycler_site
):
    response = api_as(other_recycler_admin).post(
        events_url(registered_pack),
        {"type": "graded", "facility": other_recycler_site.pk, "grade": "B", "method": "x"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "NOT_CUSTODIAN"


def test_dismantling_through_the_api_lists_what_it_produced(
    api_as, registered_pack, recycler_operator, recycler_site
):
    client = api_as(recycler_operator)
    client.post(events_url(registered_pack), {"type": "intake", "facility": recycler_site.pk}, format="json")
    module = gbt_code("HNC", product_type="M", serial=9)
    response = client.post(
        events_url(registered_pack),
        {"type": "dismantled", "facility": recycler_site.pk, "components": [module]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["produced"] == [
        {
            "kind": "battery",
            "code": module,
            "event_hash": bytes(CustodyEvent.objects.get(battery__code=module).hash).hex(),
        }
    ]


def test_the_chain_is_listed_for_legitimate_interest_and_hidden_from_others(
    api_as, registered_pack, oem_admin, buyer_user, regulator
):
    assert api_as(oem_admin).get(events_url(registered_pack)).json()["count"] == 1
    assert api_as(regulator).get(events_url(registered_pack)).status_code == 200
    hidden = api_as(buyer_user).get(events_url(registered_pack))
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "BATTERY_NOT_FOUND"


def test_the_event_list_costs_a_fixed_number_of_queries(
    api_as, django_assert_max_num_queries, registered_pack, recycler_operator, recycler_site
):
    client = api_as(recycler_operator)
    client.post(events_url(registered_pack), {"type": "intake", "facility": recycler_site.pk}, format="json")
    for grade in "BCD":
        client.post(
            events_url(registered_pack),
            {"type": "graded", "facility": recycler_site.pk, "grade": grade, "method": "x"},
            format="json",
        )
    with django_assert_max_num_queries(12):
        response = client.get(events_url(registered_pack))
    assert [event["type"] for event in response.json()["results"]] == [
        "registered",
        "intake",
        "graded",
        "graded",
        "graded",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("facility", 10**22), ("facility", 2**53), ("facility", 1.5), ("facility", -4), ("lab", 10**22)],
)
def test_an_id_that_is_no_id_is_refused_naming_its_field(
    api_as, registered_pack, recycler_operator, recycler_site, field, value
):
    payload = {"type": "intake", "facility": recycler_site.pk, field: value}
    if field == "lab":
        payload.update(type="graded", grade="B", method="capacity test")
    response = api_as(recycler_operator).post(events_url(registered_pack), payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["field"] == field
    assert not CustodyEvent.objects.filter(battery=registered_pack).exclude(type="registered").exists()
