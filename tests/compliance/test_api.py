"""Checklist API: the same five points as JSON, scoped like the pages."""

from __future__ import annotations

import pytest

from tests.factories import licensed_facility

pytestmark = pytest.mark.django_db


def test_organisation_checklist_api_returns_the_five_points(api_as, regulator, recycler_org):
    site = licensed_facility(recycler_org)
    response = api_as(regulator).get(f"/api/v1/compliance/organisations/{recycler_org.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["scope"], body["organisation"]["id"], body["facility"]) == (
        "organisation",
        recycler_org.pk,
        None,
    )
    assert [point["key"] for point in body["points"]] == [
        "licences",
        "origin",
        "retention",
        "encryption",
        "exports",
    ]
    first = body["points"][0]
    assert set(first) == {
        "number", "key", "title", "status", "status_label", "summary", "rule", "rule_code", "figures",
        "findings", "evidence",
    }  # fmt: skip
    assert first["figures"]["facilities"] == 1
    assert {"label", "url_name", "args", "url"} <= set(first["evidence"][0])
    assert first["evidence"][0]["url"] == f"/facilities/{site.pk}/"
    assert body["status"] in ("green", "amber", "red")
    assert sum(body["counts"].values()) == 5


def test_facility_checklist_api(api_as, recycler_admin, recycler_org):
    site = licensed_facility(recycler_org)
    body = api_as(recycler_admin).get(f"/api/v1/compliance/facilities/{site.pk}/").json()
    assert (body["scope"], body["facility"]["id"], body["organisation"]["id"]) == (
        "facility",
        site.pk,
        recycler_org.pk,
    )


def test_checklist_api_hides_other_organisations(
    api_as, recycler_admin, other_recycler_org, buyer_user, recycler_org
):
    other_site = licensed_facility(other_recycler_org)
    client = api_as(recycler_admin)
    for path in (
        f"/api/v1/compliance/organisations/{other_recycler_org.pk}/",
        f"/api/v1/compliance/facilities/{other_site.pk}/",
        "/api/v1/compliance/organisations/999999/",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"]
    assert api_as(buyer_user).get(f"/api/v1/compliance/organisations/{recycler_org.pk}/").status_code == 404


def test_checklist_api_needs_authentication(api_client, recycler_org):
    assert api_client.get(f"/api/v1/compliance/organisations/{recycler_org.pk}/").status_code == 401
