"""A recycler uploads a file of signed BMS snapshots in Chromium, watches it being checked, and sees the
battery's history chart, table and plausibility flags on its passport."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from passport.snapshots import tasks
from passport.snapshots.models import Snapshot, SnapshotUpload
from tests.conftest import PASSWORD, register_test_device_key
from tests.factories import lfp_battery
from tests.snapshot_builders import device_key, envelope_bytes, lfp_history, sign_envelope

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_recycler_uploads_signed_snapshots_and_sees_history_and_flags(
    page, login, tmp_path, oem_org, recycler_org, recycler_admin
):
    cache.clear()
    battery = lfp_battery(oem_org, custodian=recycler_org)
    register_test_device_key(recycler_org, recycler_admin, 2, device_serial="TESTER-7")
    payloads = lfp_history(8, device_id="TESTER-7")
    payloads[6]["soh_pct"] = 99.0  # a doctored grade: SOH jumps back up without a recalibration
    envelopes = [sign_envelope(payload, device_key(2)) for payload in payloads]
    envelopes.append(sign_envelope(payloads[0], device_key(2)))  # sent twice: refused as a replay
    upload = tmp_path / "tester-7.jsonl"
    upload.write_bytes(b"\n".join(envelope_bytes(envelope) for envelope in envelopes) + b"\n")

    login(page, "recycler-admin", PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Snapshots", exact=True).click()
    page.get_by_label("Snapshots file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload").click()
    progress = page.get_by_test_id("upload-progress")
    assert progress.get_attribute("data-status") == "pending"
    tasks.run_snapshot_upload(upload_id=SnapshotUpload.objects.get().pk)  # what the worker does
    page.locator('[data-testid="upload-progress"][data-status="succeeded"]').wait_for()  # htmx polling
    assert "8 snapshots stored" in page.get_by_test_id("upload-stored").inner_text()
    refusals = page.get_by_test_id("upload-refusals")
    assert "REPLAY" in refusals.inner_text()
    assert "tester-7.jsonl:9" in refusals.inner_text()
    assert Snapshot.objects.filter(battery=battery).count() == 8

    page.get_by_test_id("upload-battery").click()
    history = page.get_by_test_id("bms-history")
    history.wait_for()
    assert history.get_attribute("data-tier") == "legitimate_interest"
    assert history.get_attribute("data-snapshots") == "8"
    assert page.get_by_test_id("chart-soc-soh").is_visible()
    assert page.locator('[data-testid="chart-soc-soh"] circle[data-flagged="true"]').count() >= 1
    assert page.get_by_test_id("snapshot-table").locator("tbody tr").count() == 8
    flags = page.get_by_test_id("snapshot-flags")
    assert "State of health rising" in flags.inner_text()
    assert "rose from" in flags.inner_text()
    assert page.get_by_test_id("reason-bms_history").get_attribute("data-state") == "failed"
