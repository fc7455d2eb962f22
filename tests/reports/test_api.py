"""The reports API: status codes, scoping to the requesting organisation, response shape, downloads."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reports.models import Report, ReportDownload
from tests.reports.conftest import MODULES, build

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/"


def _post(client, **body):
    return client.post(URL, {"format": "csv", **body}, format="json")


def test_post_queues_a_report_and_answers_201(api_as, auditor, history, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(api_as(auditor), battery_codes=[history["pack"].code, *MODULES], title="Q1 audit")
    assert response.status_code == 201, response.json()
    assert len(callbacks) == 1
    body = response.json()
    assert body["status"] == "pending"
    assert body["title"] == "Q1 audit"
    assert (body["total_count"], body["done_count"], body["percent"]) == (3, 0, 0)
    assert body["files"] == []
    assert body["manifest"] is None
    assert body["error"] is None
    assert body["requested_by"] == "auditor"
    assert body["links"]["self"] == f"{URL}{body['id']}/"
    assert body["links"]["cancel"] == f"{URL}{body['id']}/cancel"
    assert body["links"]["download"] is None
    assert body["links"]["web"] == f"/reports/{body['id']}/"


def test_post_refuses_an_invisible_code_with_404_and_creates_nothing(api_as, other_recycler_admin, history):
    response = _post(api_as(other_recycler_admin), battery_codes=[history["pack"].code])
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "BATTERY_NOT_FOUND"
    assert error["field"] == "battery_codes"
    assert history["pack"].code in error["message"]
    assert not Report.objects.exists()


def test_post_refuses_an_oversized_or_empty_scope_with_422(api_as, auditor, history, settings):
    settings.REPORT_MAX_SUBJECTS = 1
    response = _post(api_as(auditor), battery_codes=[history["pack"].code, *MODULES])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "REPORT_TOO_LARGE"
    response = _post(api_as(auditor))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "REPORT_EMPTY"
    assert not Report.objects.exists()


def test_post_validates_its_input(api_as, auditor, history):
    response = api_as(auditor).post(
        URL, {"format": "xlsx", "battery_codes": [history["pack"].code]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "format"
    response = _post(api_as(auditor), format="bundle", anonymised=True, battery_codes=[history["pack"].code])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "NOT_ANONYMISABLE"


def test_reports_need_authentication(api_client):
    assert api_client.get(URL).status_code == 401
    assert api_client.post(URL, {"format": "csv"}, format="json").status_code == 401


def test_the_list_holds_only_the_organisations_reports(
    api_as, auditor, auditor_admin, regulator, history, django_assert_num_queries
):
    client = api_as(auditor)
    for _ in range(3):
        assert _post(client, battery_codes=[history["pack"].code]).status_code == 201
    assert _post(api_as(regulator), battery_codes=[history["pack"].code]).status_code == 201
    client = api_as(auditor_admin)
    with django_assert_num_queries(3):  # count, page (with the requester), files
        response = client.get(URL)
    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert client.get(URL, {"status": "succeeded"}).json()["count"] == 0
    other = Report.objects.get(organisation=regulator.organisation)
    assert client.get(f"{URL}{other.pk}/").status_code == 404


def _client(user):
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def test_detail_download_and_manifest_after_the_build(auditor, auditor_admin, history):
    client = _client(auditor)
    report_id = _post(client, battery_codes=[history["pack"].code]).json()["id"]
    build(Report.objects.get(pk=report_id))
    body = client.get(f"{URL}{report_id}/").json()
    assert body["status"] == "succeeded"
    assert body["percent"] == 100
    assert body["unit_count"] == 2
    assert [file["kind"] for file in body["files"]] == ["main", "manifest"]
    assert body["manifest"]["files"][0]["sha256"] == body["files"][0]["sha256"]
    assert body["manifest"]["signature"]["alg"] == "Ed25519"
    assert body["links"]["cancel"] is None
    response = _client(auditor_admin).get(body["links"]["download"], {"purpose": "Annual audit"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    assert content.startswith("\ufeff".encode())
    assert hashlib.sha256(content).hexdigest() == body["files"][0]["sha256"]
    manifest = client.get(body["links"]["manifest"])
    assert manifest.status_code == 200
    assert manifest["Content-Type"] == "application/json"
    logged = ReportDownload.objects.order_by("id")
    assert [(row.user.username, row.file.kind, row.channel, row.purpose) for row in logged] == [
        ("auditor-admin", "main", "api", "Annual audit"),
        ("auditor", "manifest", "api", ""),
    ]
    missing = client.get(f"{URL}{report_id}/download", {"file": "nothing.txt"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "FILE_NOT_FOUND"


def test_download_answers_409_before_the_build_and_410_after_expiry(api_as, auditor, history):
    client = api_as(auditor)
    report_id = _post(client, battery_codes=[history["pack"].code]).json()["id"]
    response = client.get(f"{URL}{report_id}/download")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "REPORT_NOT_READY"
    build(Report.objects.get(pk=report_id))
    Report.objects.filter(pk=report_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(f"{URL}{report_id}/download")
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "REPORT_EXPIRED"
    assert not ReportDownload.objects.exists()


def test_cancel_stops_a_report_and_refuses_a_finished_one(api_as, auditor, other_recycler_admin, history):
    client = api_as(auditor)
    report_id = _post(client, battery_codes=[history["pack"].code]).json()["id"]
    assert api_as(other_recycler_admin).post(f"{URL}{report_id}/cancel").status_code == 404
    client = api_as(auditor)
    response = client.post(f"{URL}{report_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert client.post(f"{URL}{report_id}/cancel").status_code == 200  # again: same answer
    done_id = _post(client, battery_codes=[history["pack"].code]).json()["id"]
    build(Report.objects.get(pk=done_id))
    response = client.post(f"{URL}{done_id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "REPORT_FINISHED"


def test_long_code_lists_are_cut_in_answers_and_lists_leave_out_the_manifest(auditor):
    from reports.api.serializers import ReportOutputSerializer

    report = Report(
        pk=7, organisation=auditor.organisation, format="csv", storage_key="k",
        scope={"battery_codes": [f"C{number}" for number in range(150)], "lot_codes": ["L1"]},
        manifest={"format": "voltrace.report-manifest/1"},
    )  # fmt: skip
    body = ReportOutputSerializer(report).data
    assert len(body["scope"]["battery_codes"]) == 100
    assert body["scope"]["battery_codes_truncated"] is True
    assert body["scope"]["lot_codes"] == ["L1"]
    assert body["manifest"] == {"format": "voltrace.report-manifest/1"}
    assert ReportOutputSerializer(report, context={"summary": True}).data["manifest"] is None
