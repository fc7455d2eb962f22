from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licensing.models import Licence, LicenceEvent, LicenceEvidence
from tests.factories import FacilityFactory, LicenceFactory
from tests.licensing.conftest import oversized_pdf, pdf

pytestmark = pytest.mark.django_db

ISSUE = {
    "kind": "hazardous_waste",
    "issuing_authority": "Jiangxi Provincial Department of Ecology and Environment",
    "number": "JXHW-2025-001",
    "activities": ["intake", "storage"],
    "valid_from": "2025-01-01",
    "valid_until": "2029-12-31",
}


def _error(response):
    return response.json()["error"]


# Reads and scoping
def test_facility_list_shows_own_facilities_with_licence_status(
    api_as, recycler_admin, licence, other_facility
):
    response = api_as(recycler_admin).get("/api/v1/facilities/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [licence.facility_id]
    assert rows[0]["licences"][0]["number"] == licence.number
    assert rows[0]["licences"][0]["status"] in {"active", "expired"}
    assert rows[0]["timezone"] == "Asia/Shanghai"


def test_facility_list_shows_everything_to_auditors(api_as, auditor, licence, other_facility):
    ids = {row["id"] for row in api_as(auditor).get("/api/v1/facilities/").json()["results"]}
    assert ids == {licence.facility_id, other_facility.pk}


def test_facility_detail_of_another_organisation_is_not_found(api_as, recycler_admin, other_facility):
    response = api_as(recycler_admin).get(f"/api/v1/facilities/{other_facility.pk}/")
    assert response.status_code == 404
    assert _error(response)["code"] == "NOT_FOUND"


def test_facility_list_filters_by_status_province_kind_and_expiry(api_as, regulator, recycler_org):
    jiangxi = FacilityFactory(organisation=recycler_org, province="CN-JX")
    guangdong = FacilityFactory(organisation=recycler_org, province="CN-GD")
    LicenceFactory(facility=jiangxi, valid_until=None, kind="miit_recycling")
    LicenceFactory(facility=guangdong, valid_until=date(2020, 12, 31), valid_from=date(2016, 1, 1))
    client = api_as(regulator)

    def ids(query):
        return {row["id"] for row in client.get(f"/api/v1/facilities/?{query}").json()["results"]}

    assert ids("status=active") == {jiangxi.pk}
    assert ids("status=expired") == {guangdong.pk}
    assert ids("province=CN-GD") == {guangdong.pk}
    assert ids("kind=miit_recycling") == {jiangxi.pk}
    assert ids("expiring_within=30") == set()


def test_facility_list_refuses_an_unknown_status_filter(api_as, regulator):
    response = api_as(regulator).get("/api/v1/facilities/?status=dormant")
    assert response.status_code == 400
    assert _error(response)["field"] == "status"


def test_licence_list_filters_by_expiring_within_and_activity(api_as, regulator, facility):
    from datetime import timedelta

    soon = LicenceFactory(
        facility=facility, valid_until=timezone.localdate() + timedelta(days=10), activities=["intake"]
    )
    LicenceFactory(facility=facility, valid_until=timezone.localdate() + timedelta(days=400))
    client = api_as(regulator)
    rows = client.get("/api/v1/licences/?expiring_within=30").json()["results"]
    assert [row["id"] for row in rows] == [soon.pk]
    rows = client.get("/api/v1/licences/?activity=dismantling").json()["results"]
    assert soon.pk not in [row["id"] for row in rows]
    assert len(rows) == 1


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("url", ["/api/v1/facilities/", "/api/v1/licences/"])
def test_list_endpoints_use_a_fixed_number_of_queries(
    api_as, regulator, recycler_org, url, django_assert_num_queries
):
    client = api_as(regulator)
    LicenceFactory(facility=FacilityFactory(organisation=recycler_org))
    client.get(url)  # warm the user's membership cache paths
    baseline = _count_queries(client, url)
    for _ in range(6):
        LicenceFactory(facility=FacilityFactory(organisation=recycler_org))
    with django_assert_num_queries(baseline):
        response = client.get(url)
    assert response.json()["count"] == 7


def test_licence_detail_shows_state_after_renewal(api_as, regulator, licence):
    client = api_as(regulator)
    client.post(
        f"/api/v1/licences/{licence.pk}/events/",
        {"kind": "renewed", "reason": "Renewed", "valid_until": "2031-06-30", "effective_at": "2026-06-01"},
        format="json",
    )
    body = client.get(f"/api/v1/licences/{licence.pk}/").json()
    assert (body["valid_until"], body["issued_valid_until"], body["status"]) == (
        "2031-06-30",
        "2026-06-30",
        "active",
    )
    assert body["ends_at"] == "2031-06-30T16:00:00Z"


# Status question
def test_facility_status_answers_at_an_instant(api_as, recycler_viewer, licence):
    client = api_as(recycler_viewer)
    url = f"/api/v1/facilities/{licence.facility_id}/status"
    inside = client.get(url, {"activity": "intake", "at": "2026-06-30T23:59:59+08:00"}).json()
    assert (inside["ok"], inside["code"], inside["licence"]["id"]) == (True, None, licence.pk)
    outside = client.get(url, {"activity": "intake", "at": "2026-06-30T16:00:00Z"}).json()
    assert (outside["ok"], outside["code"], outside["status"]) == (False, "LICENCE_EXPIRED", "expired")
    by_date = client.get(url, {"activity": "intake", "at": "2026-07-01"}).json()
    assert by_date["code"] == "LICENCE_EXPIRED"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"activity": "intake", "at": "2026-06-30T23:59:59"}, "at"),
        ({"activity": "intake", "at": "30/06/2026"}, "at"),
        ({"activity": "intake", "at": "2026-02-30"}, "at"),
        ({"activity": "smelting"}, "activity"),
        ({}, "activity"),
    ],
)
def test_facility_status_refuses_bad_parameters(api_as, regulator, licence, params, field):
    response = api_as(regulator).get(f"/api/v1/facilities/{licence.facility_id}/status", params)
    assert response.status_code == 400
    assert (_error(response)["code"], _error(response)["field"]) == ("INVALID_INPUT", field)


# Writes
def test_issue_licence_by_regulator_returns_201(api_as, regulator, facility):
    response = api_as(regulator).post("/api/v1/licences/", {**ISSUE, "facility": facility.pk}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "active" or response.json()["status"] == "pending"
    assert LicenceEvent.objects.filter(kind="issued").count() == 1


def test_issue_licence_accepts_multipart_with_evidence(api_as, regulator, facility):
    response = api_as(regulator).post(
        "/api/v1/licences/", {**ISSUE, "facility": facility.pk, "evidence": pdf()}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert len(response.json()["evidence_sha256"]) == 64


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"valid_until": "2024-12-31"}, 400, "VALID_UNTIL_BEFORE_VALID_FROM", "valid_until"),
        ({"kind": "fishing"}, 400, "INVALID_INPUT", "kind"),
        ({"activities": ["smelting"]}, 400, "INVALID_INPUT", "activities"),
        ({"number": "DUP-1"}, 409, "DUPLICATE_LICENCE_NUMBER", "number"),
    ],
)
def test_issue_licence_bad_input_is_refused_and_nothing_is_written(
    api_as, regulator, facility, overrides, status, code, field
):
    LicenceFactory(facility=facility, number="DUP-1", issuing_authority=ISSUE["issuing_authority"])
    response = api_as(regulator).post(
        "/api/v1/licences/", {**ISSUE, "facility": facility.pk, **overrides}, format="json"
    )
    assert response.status_code == status
    assert (_error(response)["code"], _error(response)["field"]) == (code, field)
    assert Licence.objects.count() == 1


def test_issue_licence_refuses_evidence_that_is_too_large(api_as, regulator, facility):
    response = api_as(regulator).post(
        "/api/v1/licences/",
        {**ISSUE, "facility": facility.pk, "evidence": oversized_pdf()},
        format="multipart",
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "EVIDENCE_TOO_LARGE"
    assert not Licence.objects.exists()


def test_facility_admin_cannot_issue_or_change_its_own_licence(api_as, recycler_admin, licence):
    client = api_as(recycler_admin)
    response = client.post("/api/v1/licences/", {**ISSUE, "facility": licence.facility_id}, format="json")
    assert response.status_code == 403
    for body in (
        {"kind": "renewed", "reason": "we renew ourselves", "valid_until": "2040-01-01"},
        {"kind": "reinstated", "reason": "x"},
        {"kind": "revoked", "reason": "x"},
    ):
        response = client.post(f"/api/v1/licences/{licence.pk}/events/", body, format="json")
        assert response.status_code == 403
        assert _error(response)["code"] == "NOT_PERMITTED"
    assert licence.events.count() == 1


def test_regulator_suspends_then_the_event_list_shows_it(api_as, regulator, licence):
    client = api_as(regulator)
    response = client.post(
        f"/api/v1/licences/{licence.pk}/events/",
        {"kind": "suspended", "reason": "Inspection", "effective_at": "2025-03-01T09:00:00+08:00"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["actor"] == "regulator"
    events = client.get(f"/api/v1/licences/{licence.pk}/events/").json()["results"]
    assert [event["kind"] for event in events] == ["issued", "suspended"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {"kind": "suspended", "reason": "x", "effective_at": "yesterday"},
            400,
            "INVALID_INPUT",
            "effective_at",
        ),
        ({"kind": "suspended"}, 400, "INVALID_INPUT", "reason"),
        ({"kind": "issued", "reason": "x"}, 400, "INVALID_INPUT", "kind"),
        ({"kind": "renewed", "reason": "x"}, 400, "INVALID_INPUT", "valid_until"),
        (
            {"kind": "scope_changed", "reason": "x", "activities": ["smelting"]},
            400,
            "INVALID_INPUT",
            "activities",
        ),
        (
            {"kind": "reinstated", "reason": "x", "effective_at": "2025-03-01"},
            422,
            "LICENCE_NOT_SUSPENDED",
            None,
        ),
        ({"kind": "suspended", "reason": "x", "effective_at": "2026-07-02"}, 422, "LICENCE_EXPIRED", None),
    ],
)
def test_licence_event_bad_input_is_refused(api_as, regulator, licence, body, status, code, field):
    response = api_as(regulator).post(f"/api/v1/licences/{licence.pk}/events/", body, format="json")
    assert response.status_code == status, response.json()
    assert (_error(response)["code"], _error(response)["field"]) == (code, field)
    assert licence.events.count() == 1


def test_facility_admin_uploads_renewal_evidence(api_as, recycler_admin, licence):
    response = api_as(recycler_admin).post(
        f"/api/v1/licences/{licence.pk}/evidence/", {"file": pdf(), "note": "renewal"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["content_type"] == "application/pdf"
    listed = api_as(recycler_admin).get(f"/api/v1/licences/{licence.pk}/evidence/").json()["results"]
    assert len(listed) == 1


def test_evidence_upload_refuses_a_disguised_file_and_other_organisations(
    api_as, recycler_admin, other_recycler_admin, licence
):
    response = api_as(recycler_admin).post(
        f"/api/v1/licences/{licence.pk}/evidence/",
        {"file": pdf(name="renewal.pdf", content=b"MZ\x90\x00 executable")},
        format="multipart",
    )
    assert response.status_code == 400
    assert (_error(response)["code"], _error(response)["field"]) == ("EVIDENCE_TYPE_NOT_ALLOWED", "file")
    response = api_as(other_recycler_admin).post(
        f"/api/v1/licences/{licence.pk}/evidence/", {"file": pdf()}, format="multipart"
    )
    assert response.status_code == 404
    assert not LicenceEvidence.objects.exists()


def test_facility_registration_by_own_admin(api_as, recycler_admin):
    response = api_as(recycler_admin).post(
        "/api/v1/facilities/", {"name": "Jiujiang Yard", "province": "CN-JX"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["timezone"] == "Asia/Shanghai"


def test_schema_documents_licensing_errors(api_as, regulator):
    schema = api_as(regulator).get("/api/schema/?format=json").json()
    status_op = schema["paths"]["/api/v1/facilities/{id}/status"]["get"]
    assert {"400", "401", "404", "429"} <= set(status_op["responses"])
    events_post = schema["paths"]["/api/v1/licences/{id}/events/"]["post"]
    assert {"400", "403", "404", "422"} <= set(events_post["responses"])
    issue = schema["paths"]["/api/v1/licences/"]["post"]
    assert {"400", "403", "409"} <= set(issue["responses"])


@pytest.mark.parametrize("value", ["1.5", "0", "-3", "99999999999999999999999"])
def test_licence_list_refuses_a_facility_that_is_not_an_id(api_as, regulator, value):
    response = api_as(regulator).get(f"/api/v1/licences/?facility={value}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "facility")


def test_licence_list_filters_by_facility(api_as, regulator, licence, recycler_org):
    LicenceFactory(facility=FacilityFactory(organisation=recycler_org))
    body = api_as(regulator).get(f"/api/v1/licences/?facility={licence.facility_id}").json()
    assert [row["id"] for row in body["results"]] == [licence.pk]
