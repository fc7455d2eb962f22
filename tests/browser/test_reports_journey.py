"""An auditor in Chromium builds custody reports (CSV, the verification bundle, and EPCIS and PDF where
this deployment has their writers), watches each progress bar reach done, downloads the file and its
signed manifest, and the bundle verifies offline."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from custody import services as custody_services
from custody.events.licences import forget_all
from custody.transparency.keys import log_signer
from reports import services
from reports.formats.registry import FORMATS
from reports.models import Report, ReportDownload
from tests.conftest import PASSWORD
from tests.factories import gbt_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PACK = gbt_code("HNC", product_type="P", serial=1)
MODULES = [gbt_code("HNC", product_type="M", serial=2), gbt_code("HNC", product_type="M", serial=3)]
# CSV and the bundle always; EPCIS and PDF when their writers are installed.
JOURNEY_FORMATS = [name for name in ("csv", "bundle", "epcis", "pdf") if FORMATS[name].is_available()]


def _build_through_the_page(page, report_format: str, title: str) -> tuple[Report, Path]:
    page.goto("/reports/new/")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Format").select_option(report_format)
    page.get_by_label("Battery codes").fill("\n".join([PACK.lower(), *MODULES]))
    page.get_by_test_id("report-submit").click()
    progress = page.get_by_test_id("report-progress")
    progress.wait_for()
    assert progress.get_attribute("data-status") == "pending"
    report = Report.objects.get(title=title)
    services.build_report(report_id=report.pk)  # what the worker does; the page keeps polling
    page.locator('[data-testid="report-progress"][data-status="succeeded"]').wait_for()
    assert page.get_by_test_id("report-progress").get_attribute("data-percent") == "100"
    assert page.get_by_test_id("report-bar").get_attribute("value") == "100"
    with page.expect_download() as download:
        page.get_by_test_id("report-download-main").click()
    saved = Path(download.value.path())
    assert (
        download.value.suggested_filename == f"voltrace-report-{report.pk}.{FORMATS[report_format].extension}"
    )
    with page.expect_download() as manifest_download:
        page.get_by_test_id("report-download-manifest").click()
    manifest = json.loads(Path(manifest_download.value.path()).read_text())
    assert manifest["files"][0]["size"] == saved.stat().st_size
    return report, saved


def test_an_auditor_builds_downloads_and_verifies_custody_reports(
    page, login, hnc_models, oem_admin, recycler_operator, recycler_site, auditor, tmp_path
):
    cache.clear()
    forget_all()
    oem_api = APIClient()
    oem_api.force_authenticate(oem_admin)
    response = oem_api.post(
        "/api/v1/batteries/",
        [{"code": PACK, "model": "HN-LFP-280-PACK"}]
        + [{"code": module, "model": "HN-LFP-MOD-16", "parent_code": PACK} for module in MODULES],
        format="json",
    )
    assert response.status_code == 201, response.json()
    custody_services.record_intake(by=recycler_operator, code=PACK, facility=recycler_site)

    login(page, "auditor", PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Reports", exact=True).click()
    page.get_by_test_id("report-new").click()

    # The CSV: one row per event, opened as a spreadsheet would.
    _report, saved = _build_through_the_page(page, "csv", "Pack custody (CSV)")
    rows = list(csv.DictReader(io.StringIO(saved.read_bytes().decode("utf-8-sig"), newline="")))
    assert [row["event_type"] for row in rows if row["subject_code"] == PACK] == ["registered", "intake"]

    # The verification bundle, checked offline with nothing but the file and the log key.
    _report, saved = _build_through_the_page(page, "bundle", "Pack custody (bundle)")
    key = tmp_path / "log.vkey"
    key.write_text(log_signer().verifier.vkey)
    verified = subprocess.run(
        [sys.executable, "-m", "custody.verify", str(saved), "--log-key", str(key)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    for report_format in JOURNEY_FORMATS[2:]:
        _report, saved = _build_through_the_page(page, report_format, f"Pack custody ({report_format})")
        assert saved.stat().st_size > 0

    assert ReportDownload.objects.filter(user=auditor).count() == 2 * len(JOURNEY_FORMATS)
    page.goto("/reports/")
    assert page.get_by_test_id("report-list").locator("tbody tr").count() == len(JOURNEY_FORMATS)
