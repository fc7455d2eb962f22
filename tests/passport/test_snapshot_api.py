"""Snapshot API: every bad input refused with its code and nothing stored; batches; tiers; authorities."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from passport import services as passport_services
from passport.snapshots import services
from passport.snapshots.models import LegalHold, Snapshot, TelemetryAccessLog
from tests.factories import OrganisationFactory, member_of
from tests.passport.snapshot_helpers import ingest
from tests.snapshot_builders import (
    OTHER_BATTERY_CODE,
    device_key,
    envelope_bytes,
    lfp_history,
    lfp_payload,
    sign_envelope,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/snapshots/"


def post_raw(client, body: bytes):
    return client.post(URL, data=body, content_type="application/json")


@pytest.fixture
def oem_api(api_as, oem_admin, lfp_pack, oem_device_key):
    return api_as(oem_admin)


def test_one_envelope_is_stored_with_201(oem_api):
    response = post_raw(oem_api, envelope_bytes(sign_envelope(lfp_payload())))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "stored"
    assert Snapshot.objects.filter(pk=body["snapshot_id"]).exists()


def _revoked(oem_device_key, oem_admin):
    passport_services.revoke_device_key(
        key=oem_device_key, by=oem_admin, reason="lost", effective_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


def _bad_signature():
    envelope = sign_envelope(lfp_payload())
    value = bytearray(__import__("base64").b64decode(envelope["signature"]["value"]))
    value[10] ^= 0x01
    envelope["signature"]["value"] = __import__("base64").b64encode(bytes(value)).decode()
    return envelope_bytes(envelope)


def _byte_changed():
    raw = envelope_bytes(sign_envelope(lfp_payload()))
    return raw.replace(b'"soc_pct": 61.5', b'"soc_pct": 61.6', 1)


def _deep():
    return b'{"format": "voltrace.bms-snapshot/1", "payload": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"


def _huge_number():
    return envelope_bytes(sign_envelope(lfp_payload())).replace(
        b'"cycle_count": 812', b'"cycle_count": 1' + b"0" * 30
    )


BAD_INPUTS = {
    "bad signature": (lambda key, admin: _bad_signature(), 422, "SIGNATURE_INVALID"),
    "unknown key": (
        lambda key, admin: envelope_bytes(sign_envelope(lfp_payload(), key=device_key(42))),
        422,
        "KEY_UNKNOWN",
    ),
    "revoked key": (
        lambda key, admin: (_revoked(key, admin), envelope_bytes(sign_envelope(lfp_payload())))[1],
        422,
        "KEY_REVOKED",
    ),
    "one byte changed after signing": (lambda key, admin: _byte_changed(), 422, "SIGNATURE_INVALID"),
    "payload over the limit": (
        lambda key, admin: (
            b'{"format": "voltrace.bms-snapshot/1", "payload": {"x": "' + b"a" * 1_100_000 + b'"}}'
        ),
        413,
        "SNAPSHOT_BODY_TOO_LARGE",
    ),
    "nested absurdly deep": (lambda key, admin: _deep(), 400, "TOO_DEEP"),
    "NaN": (
        lambda key, admin: envelope_bytes(sign_envelope(lfp_payload())).replace(
            b'"soc_pct": 61.5', b'"soc_pct": NaN'
        ),
        400,
        "NON_FINITE_NUMBER",
    ),
    "huge number": (lambda key, admin: _huge_number(), 400, "NUMBER_OUT_OF_RANGE"),
    "unknown battery": (
        lambda key, admin: envelope_bytes(sign_envelope(lfp_payload(battery_code=OTHER_BATTERY_CODE))),
        422,
        "BATTERY_UNKNOWN",
    ),
    "future timestamp": (
        lambda key, admin: envelope_bytes(
            sign_envelope(lfp_payload(captured_at=timezone.now() + timedelta(hours=1)))
        ),
        422,
        "CAPTURED_IN_FUTURE",
    ),
    "unknown field": (
        lambda key, admin: envelope_bytes(sign_envelope(lfp_payload(colour="blue"))),
        400,
        "SCHEMA_UNKNOWN_FIELD",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_with_its_code_and_nothing_stored(case, oem_api, oem_device_key, oem_admin):
    make, status, code = BAD_INPUTS[case]
    response = post_raw(oem_api, make(oem_device_key, oem_admin))
    assert response.status_code == status, response.content[:300]
    assert response.json()["error"]["code"] == code
    assert not Snapshot.objects.exists()


def test_replay_is_refused_with_409(oem_api):
    raw = envelope_bytes(sign_envelope(lfp_payload()))
    assert post_raw(oem_api, raw).status_code == 201
    response = post_raw(oem_api, raw)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "REPLAY"
    assert Snapshot.objects.count() == 1


def test_organisation_without_right_to_report_is_refused(
    api_as, lfp_pack, recycler_device_key, recycler_admin
):
    raw = envelope_bytes(sign_envelope(lfp_payload(device_id="TESTER-7"), key=device_key(2)))
    response = post_raw(api_as(recycler_admin), raw)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "NOT_ALLOWED_TO_REPORT"
    assert not Snapshot.objects.exists()


def test_request_size_is_refused_from_the_header_before_reading(oem_api, settings):
    settings.SNAPSHOT_BATCH_MAX_BYTES = 10_000
    body = json.dumps([sign_envelope(payload) for payload in lfp_history(5)]).encode()
    response = post_raw(oem_api, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "SNAPSHOT_BODY_TOO_LARGE"


def test_batch_gives_one_result_per_item_and_one_bad_item_does_not_sink_the_others(oem_api):
    payloads = lfp_history(4)
    envelopes = [sign_envelope(payload) for payload in payloads]
    envelopes[1]["payload"]["soh_pct"] = 99.9  # changed after signing
    envelopes[3] = envelopes[0]  # replay within the batch
    response = post_raw(oem_api, json.dumps(envelopes).encode())
    assert response.status_code == 200
    body = response.json()
    assert (body["stored"], body["refused"]) == (2, 2)
    codes = [result.get("error", {}).get("code") for result in body["results"]]
    assert codes == [None, "SIGNATURE_INVALID", None, "REPLAY"]
    assert [result["index"] for result in body["results"]] == [0, 1, 2, 3]
    assert body["results"][1]["http_status"] == 422


def test_strict_json_refusal_inside_one_item_refuses_only_that_item(oem_api):
    good = [sign_envelope(payload) for payload in lfp_history(3)]
    text = json.dumps(good)
    poisoned = text.replace('"soc_pct": ', '"soc_pct": NaN, "x": ', 1)  # first item only
    response = post_raw(oem_api, poisoned.encode())
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert results[0]["error"]["code"] == "NON_FINITE_NUMBER"
    assert [result["status"] for result in results] == ["refused", "stored", "stored"]


def test_batch_of_more_than_a_thousand_is_refused(oem_api, settings):
    settings.SNAPSHOT_BATCH_MAX_ITEMS = 3
    body = json.dumps([sign_envelope(payload) for payload in lfp_history(4)]).encode()
    response = post_raw(oem_api, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "SNAPSHOT_BATCH_TOO_LONG"
    assert post_raw(oem_api, b"[]").json()["error"]["code"] == "SNAPSHOT_BATCH_EMPTY"


def test_batch_ingest_costs_a_fixed_number_of_queries(oem_api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def lookups(context: CaptureQueriesContext) -> int:
        # Bulk INSERTs are split by the driver's parameter limit (SQLite: 999); every other query is fixed.
        return sum(1 for query in context.captured_queries if not query["sql"].startswith("INSERT"))

    first = json.dumps([sign_envelope(payload) for payload in lfp_history(5)]).encode()
    with CaptureQueriesContext(connection) as few:
        post_raw(oem_api, first)
    many = json.dumps(
        [sign_envelope(payload) for payload in lfp_history(60, first_cycle_count=500, device_id="BMS-B")]
    )
    with CaptureQueriesContext(connection) as more:
        assert post_raw(oem_api, many.encode()).json()["stored"] == 60
    # The same lookups for 5 and for 60 (the larger batch also deletes flags its late arrivals made stale).
    assert lookups(few) <= lookups(more) <= lookups(few) + 1 <= 25


# ---------------------------------------------------------------------------------------------------
# The battery's history by tier
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def history(lfp_pack, oem_device_key, oem_org, oem_admin):
    payloads = lfp_history(4)
    payloads[3]["soh_pct"] = 99.0
    ingest(payloads, oem_org, oem_admin)
    return lfp_pack


def test_public_sees_counts_only(api_client, history):
    body = api_client.get(f"/api/v1/batteries/{history.code}/snapshots/").json()
    assert body["tier"] == "public"
    assert body["results"] == []
    assert body["count"] == 0
    assert body["summary"]["snapshot_count"] == 4
    assert body["summary"]["flag_counts"]["critical"] == 1


def test_legitimate_interest_sees_metadata_and_flags_without_payload(api_as, history, oem_admin):
    body = api_as(oem_admin).get(f"/api/v1/batteries/{history.code}/snapshots/?flagged=true").json()
    assert body["tier"] == "legitimate_interest"
    assert body["count"] == 1
    (item,) = body["results"]
    assert item["flags"][0]["rule_id"] == "SOH_RISING"
    assert "rose from" in item["flags"][0]["message"]
    assert "vehicle" not in json.dumps(item)
    assert "payload_ciphertext" not in item


def test_history_list_queries_do_not_grow_with_rows(
    api_as, history, oem_admin, oem_org, django_assert_max_num_queries
):
    client = api_as(oem_admin)
    url = f"/api/v1/batteries/{history.code}/snapshots/"
    with django_assert_max_num_queries(30) as few:
        client.get(url)
    ingest(
        lfp_history(20, start=datetime(2026, 6, 1, tzinfo=UTC), first_cycle_count=900, device_id="BMS-B"),
        oem_org,
        oem_admin,
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).json()["count"] == 24


def test_raw_endpoint_serves_authorities_and_logs_every_read(api_as, history, regulator, oem_admin):
    snapshot = Snapshot.objects.first()
    url = f"/api/v1/snapshots/{snapshot.pk}/raw"
    response = api_as(regulator).get(url, {"purpose": "Inspection of dismantling records"})
    assert response.status_code == 200
    assert response.json()["payload"]["vehicle"]["vin"]
    assert response.json()["signature_valid"] is True
    refused = api_as(oem_admin).get(url, {"purpose": "Looking at my own battery"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "TELEMETRY_NOT_PERMITTED"
    assert list(TelemetryAccessLog.objects.order_by("id").values_list("outcome", flat=True)) == [
        "granted",
        "refused",
    ]


def test_raw_endpoint_hides_snapshots_the_caller_cannot_see(api_as, history, buyer_user):
    snapshot = Snapshot.objects.first()
    response = api_as(buyer_user).get(
        f"/api/v1/snapshots/{snapshot.pk}/raw", {"purpose": "Looking around here"}
    )
    assert response.status_code == 404
    assert TelemetryAccessLog.objects.get().outcome == "refused"


# ---------------------------------------------------------------------------------------------------
# Certifications, lab designations, legal holds, retention report
# ---------------------------------------------------------------------------------------------------
def test_lab_certifies_through_the_api_after_designation(
    api_as, history, test_lab_org, lab_admin, regulator, oem_admin
):
    from core import signing

    private = signing.generate_private_key()
    response = api_as(lab_admin).post(
        "/api/v1/device-keys/",
        {
            "public_key": signing.public_key_b64(private),
            "purpose": "certification",
            "valid_from": "2026-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    passport_services.grant_access(
        battery=history, grantee=test_lab_org, by=oem_admin, valid_until=timezone.now() + timedelta(days=9)
    )
    snapshot = Snapshot.objects.first()
    document = services.sign_certification(
        {
            "battery_code": history.code,
            "snapshot_payload_hash": snapshot.payload_hash,
            "result": "pass",
            "tested_at": "2026-03-01T00:00:00Z",
        },
        private,
    )
    refused = api_as(lab_admin).post("/api/v1/certifications/", document, format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "CERT_LAB_NOT_DESIGNATED"
    designated = api_as(regulator).post(
        "/api/v1/lab-designations/",
        {"lab": test_lab_org.pk, "valid_from": "2026-01-01T00:00:00Z", "reference": "MIIT-LAB-7"},
        format="json",
    )
    assert designated.status_code == 201
    created = api_as(lab_admin).post("/api/v1/certifications/", document, format="json")
    assert created.status_code == 201
    assert created.json()["designation_reference"] == "MIIT-LAB-7"
    listed = api_as(oem_admin).get(f"/api/v1/certifications/?battery={history.code}").json()
    assert listed["count"] == 1


def test_only_regulators_designate_labs_through_the_api(api_as, test_lab_org, oem_admin):
    response = api_as(oem_admin).post(
        "/api/v1/lab-designations/",
        {"lab": test_lab_org.pk, "valid_from": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 403


def test_authority_places_and_lifts_a_hold_through_the_api(api_as, history, auditor, oem_admin):
    client = api_as(auditor)
    placed = client.post(
        "/api/v1/legal-holds/", {"battery_code": history.code, "reason": "Case 12"}, format="json"
    )
    assert placed.status_code == 201
    assert placed.json()["active"] is True
    hold_id = placed.json()["id"]
    assert (
        api_as(oem_admin)
        .post(f"/api/v1/legal-holds/{hold_id}/lift", {"reason": "x"}, format="json")
        .status_code
        == 403
    )
    lifted = api_as(auditor).post(f"/api/v1/legal-holds/{hold_id}/lift", {"reason": "Closed"}, format="json")
    assert lifted.status_code == 200
    assert [event["action"] for event in lifted.json()["events"]] == [
        "placed",
        "lifted",
    ]
    assert LegalHold.objects.get().lifted_at is not None


def test_retention_report_per_organisation(api_as, history, oem_admin, regulator, oem_org):
    own = api_as(oem_admin).get("/api/v1/retention-report/").json()
    assert own["organisation"] == oem_org.name
    assert own["total"] == 4
    assert own["sealed"] == 4
    assert own["by_year"][0]["year"] in (2032, 2033, 2034)
    other = OrganisationFactory(name="Somebody else", kind="recycler")
    assert api_as(oem_admin).get(f"/api/v1/retention-report/?organisation={other.pk}").status_code == 404
    chosen = api_as(regulator).get(f"/api/v1/retention-report/?organisation={oem_org.pk}").json()
    assert chosen["total"] == 4


@pytest.mark.parametrize("value", ["²", "1.5", "99999999999999999999999"])
def test_retention_report_refuses_an_organisation_that_is_not_an_id(api_as, regulator, value):
    response = api_as(regulator).get("/api/v1/retention-report/", {"organisation": value})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "organisation"


def test_schema_documents_the_snapshot_endpoints(api_client):
    response = api_client.get("/api/schema/?format=json")
    paths = json.loads(response.content)["paths"]
    assert "/api/v1/snapshots/" in paths
    assert "413" in paths["/api/v1/snapshots/"]["post"]["responses"]
    assert "/api/v1/batteries/{code}/snapshots/" in paths


def test_member_of_foreign_regulator_is_not_an_authority_here(api_as, history):
    foreign = member_of(OrganisationFactory(name="Other regulator", kind="regulator", country="FR"))
    snapshot = Snapshot.objects.first()
    response = api_as(foreign).get(f"/api/v1/snapshots/{snapshot.pk}/raw", {"purpose": "Market surveillance"})
    assert response.status_code in (403, 404)
