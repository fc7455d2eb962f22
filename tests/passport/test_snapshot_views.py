"""Snapshot pages: the passport history by tier, device keys, uploads, raw reads, holds, labs, retention."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from passport.models import DeviceKey
from passport.snapshots import tasks
from passport.snapshots.models import LabDesignation, LegalHold, Snapshot, SnapshotUpload, TelemetryAccessLog
from tests.passport.snapshot_helpers import ingest
from tests.snapshot_builders import envelope_bytes, lfp_history, sign_envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(lfp_pack, oem_device_key, oem_org, oem_admin):
    payloads = lfp_history(8)
    payloads[5]["soh_pct"] = 99.5
    ingest(payloads, oem_org, oem_admin)
    return lfp_pack


def test_public_passport_shows_counts_only(client, history, settings):
    settings.PASSPORT_PAGE_CACHE_SECONDS = 0
    html = client.get(f"/p/{history.code}").content.decode()
    assert 'data-testid="bms-history" data-tier="public" data-snapshots="8" data-flags="1"' in html
    assert "chart-soc-soh" not in html
    assert "snapshot-table" not in html
    assert 'data-testid="reason-bms_history" data-state="failed"' in html


def test_custodian_sees_chart_table_flags_and_timelines(client, history, oem_admin):
    client.force_login(oem_admin)
    html = client.get(f"/p/{history.code}").content.decode()
    for testid in ("chart-soc-soh", "chart-cycles", "snapshot-table", "snapshot-flags", "thermal-timeline"):
        assert f'data-testid="{testid}"' in html
    assert 'data-rule="SOH_RISING"' in html
    assert "<script" not in html.split('data-testid="bms-history"')[1]  # CSP: nothing inline
    assert 'data-flagged="true"' in html


def test_public_page_costs_no_query_for_the_history(client, history, settings, django_assert_max_num_queries):
    settings.PASSPORT_PAGE_CACHE_SECONDS = 0
    client.get(f"/p/{history.code}")
    with django_assert_max_num_queries(4):  # battery (with its summary), components, revocation check
        client.get(f"/p/{history.code}")


def test_authority_gets_a_raw_link_and_reads_with_a_logged_purpose(client, history, regulator):
    client.force_login(regulator)
    html = client.get(f"/p/{history.code}").content.decode()
    snapshot = Snapshot.objects.order_by("-captured_at").first()
    assert f"/passport/snapshots/{snapshot.pk}/raw/" in html
    response = client.post(
        f"/passport/snapshots/{snapshot.pk}/raw/", {"purpose": "Inspection of the grading record"}
    )
    assert response.status_code == 200
    assert "LFV2A21K8R3000123" in response.content.decode()
    assert TelemetryAccessLog.objects.get().outcome == "granted"


def test_raw_page_is_hidden_from_others(client, history, oem_admin):
    client.force_login(oem_admin)
    snapshot = Snapshot.objects.first()
    assert client.get(f"/passport/snapshots/{snapshot.pk}/raw/").status_code == 404


def test_org_admin_registers_and_revokes_device_keys_on_the_page(client, oem_admin):
    from core import signing

    client.force_login(oem_admin)
    public_key = signing.public_key_b64(signing.generate_private_key())
    response = client.post(
        "/passport/device-keys/",
        {"register": "1", "public_key": public_key, "purpose": "bms_device", "device_serial": "GW-9"},
    )
    assert response.status_code == 302
    key = DeviceKey.objects.get(device_serial="GW-9")
    response = client.post("/passport/device-keys/", {"revoke": "1", "key_id": key.key_id, "reason": "Lost"})
    assert response.status_code == 302
    html = client.get("/passport/device-keys/").content.decode()
    assert "Lost" in html
    assert 'data-testid="revocations"' in html
    assert key.revocations.count() == 1


def test_device_key_page_shows_errors_and_hides_forms_from_viewers(client, oem_admin, recycler_viewer):
    client.force_login(oem_admin)
    html = client.post(
        "/passport/device-keys/", {"register": "1", "public_key": "not a key", "purpose": "bms_device"}
    ).content.decode()
    assert 'data-testid="key-error"' in html
    client.force_login(recycler_viewer)
    assert 'data-testid="register-key-form"' not in client.get("/passport/device-keys/").content.decode()
    assert client.post("/passport/device-keys/", {"register": "1"}).status_code == 404


def test_upload_page_queues_a_job_and_polls_progress(
    client, lfp_pack, oem_device_key, oem_admin, django_capture_on_commit_callbacks
):
    client.force_login(oem_admin)
    body = b"\n".join(envelope_bytes(sign_envelope(payload)) for payload in lfp_history(3))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/passport/snapshots/upload/", {"file": SimpleUploadedFile("three.jsonl", body)}
        )
    assert len(callbacks) == 1
    job = SnapshotUpload.objects.get()
    assert (
        'data-status="pending"' in client.get(response.url, headers={"HX-Request": "true"}).content.decode()
    )
    tasks.run_snapshot_upload(upload_id=job.pk)  # what the worker does with the queued task
    assert response.status_code == 302
    assert response.url == f"/passport/snapshots/uploads/{job.pk}/"
    partial = client.get(response.url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="succeeded"' in partial
    assert "3 snapshots stored" in partial
    assert f"/p/{lfp_pack.code}" in partial


def test_authority_places_and_lifts_holds_on_the_page(client, history, auditor, oem_admin):
    client.force_login(auditor)
    url = f"/passport/batteries/{history.code}/holds/"
    assert client.post(url, {"place": "1", "reason": "Case 99"}).status_code == 302
    hold = LegalHold.objects.get()
    assert client.post(url, {"lift": "1", "hold": hold.pk, "reason": "Closed"}).status_code == 302
    hold.refresh_from_db()
    assert hold.lifted_at is not None
    client.force_login(oem_admin)
    assert "Case 99" in client.get(url).content.decode()
    assert client.post(url, {"place": "1", "reason": "Mine"}).status_code == 404


@pytest.mark.parametrize("hold_id", ["99999999999999999999999", "1.5", "-1"])
def test_lifting_a_hold_by_a_tampered_id_is_refused_on_the_page(client, history, auditor, hold_id):
    client.force_login(auditor)
    url = f"/passport/batteries/{history.code}/holds/"
    client.post(url, {"place": "1", "reason": "Case 99"})
    response = client.post(url, {"lift": "1", "hold": hold_id, "reason": "Closed"})
    assert response.status_code == 200  # the page again, with the form's error
    assert LegalHold.objects.get().lifted_at is None


def test_regulator_designates_a_lab_on_the_page(client, regulator, test_lab_org, oem_admin):
    client.force_login(regulator)
    response = client.post(
        "/passport/lab-designations/",
        {"designate": "1", "lab": test_lab_org.pk, "valid_from": "2026-01-01", "reference": "MIIT-7"},
    )
    assert response.status_code == 302
    designation = LabDesignation.objects.get()
    client.post(
        "/passport/lab-designations/", {"withdraw": "1", "designation": designation.pk, "reason": "Audit"}
    )
    assert designation.withdrawals.count() == 1
    client.force_login(oem_admin)
    assert client.post("/passport/lab-designations/", {"designate": "1"}).status_code == 404


def test_retention_page_for_members_and_authorities(client, history, oem_admin, regulator, oem_org):
    client.force_login(oem_admin)
    html = client.get("/passport/retention/").content.decode()
    assert 'data-testid="retention-total">8<' in html
    client.force_login(regulator)
    html = client.get(f"/passport/retention/?organisation={oem_org.pk}").content.decode()
    assert 'data-testid="retention-total">8<' in html
