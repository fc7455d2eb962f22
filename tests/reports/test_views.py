"""Report pages: the builder, progress polled by htmx, cancel, downloads, the menu entry."""

from __future__ import annotations

import pytest

from reports.models import Report, ReportDownload
from tests.reports.conftest import MODULES, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_of(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_the_menu_offers_reports_to_members(browser_of, auditor):
    page = browser_of(auditor).get("/reports/")
    assert page.status_code == 200
    assert b'href="/reports/"' in page.content
    assert b"No reports yet." in page.content


def test_the_builder_queues_a_report_and_shows_its_progress(browser_of, auditor, history):
    client = browser_of(auditor)
    form = client.get("/reports/new/")
    assert form.status_code == 200
    assert b'name="battery_codes"' in form.content
    assert b'name="anonymised"' in form.content
    response = client.post(
        "/reports/new/",
        {"format": "csv", "battery_codes": f"{history['pack'].code}\n{MODULES[0]}", "language": "en"},
    )
    report = Report.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/reports/{report.pk}/"
    assert report.subject_count == 2
    page = client.get(f"/reports/{report.pk}/")
    assert b'data-status="pending"' in page.content
    assert b"<script" not in page.content.split(b"<main")[1]  # no inline script (CSP)
    polled = client.get(f"/reports/{report.pk}/", HTTP_HX_REQUEST="true")
    assert polled.content.lstrip().startswith(b"<article")
    assert b'hx-trigger="every 1s"' in polled.content
    build(report)
    done = client.get(f"/reports/{report.pk}/", HTTP_HX_REQUEST="true")
    assert b'data-status="succeeded"' in done.content
    assert b"hx-trigger" not in done.content  # finished: polling stops
    assert b"manifest.json" in done.content


def test_the_builder_names_what_the_requester_may_not_see(browser_of, other_recycler_admin, history):
    response = browser_of(other_recycler_admin).post(
        "/reports/new/", {"format": "csv", "battery_codes": history["pack"].code, "language": "en"}
    )
    assert response.status_code == 200
    assert history["pack"].code.encode() in response.content
    assert not Report.objects.exists()


def test_web_downloads_are_logged_and_others_get_404(browser_of, auditor, regulator, history):
    client = browser_of(auditor)
    client.post("/reports/new/", {"format": "csv", "battery_codes": history["pack"].code, "language": "en"})
    report = build(Report.objects.get())
    main = report.files.get(kind="main")
    response = client.get(f"/reports/{report.pk}/files/{main.name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert ReportDownload.objects.get().channel == "web"
    other = browser_of(regulator)
    assert other.get(f"/reports/{report.pk}/").status_code == 404
    assert other.get(f"/reports/{report.pk}/files/{main.name}").status_code == 404


def test_the_cancel_button_cancels(browser_of, auditor, history):
    client = browser_of(auditor)
    client.post("/reports/new/", {"format": "csv", "battery_codes": history["pack"].code, "language": "en"})
    report = Report.objects.get()
    assert b'data-testid="report-cancel"' in client.get(f"/reports/{report.pk}/").content
    response = client.post(f"/reports/{report.pk}/cancel/")
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == Report.Status.CANCELLED
