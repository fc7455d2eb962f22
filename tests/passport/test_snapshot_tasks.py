"""Snapshot jobs: file uploads (JSON, JSON Lines, zip), the retention job, and the management commands."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from core.models import JobRun
from passport.snapshots import retention, services, tasks, uploads
from passport.snapshots.models import Snapshot, SnapshotShred, SnapshotUpload
from tests.passport.snapshot_helpers import expired_snapshots, stored
from tests.snapshot_builders import envelope_bytes, lfp_history, sign_envelope

pytestmark = pytest.mark.django_db


def jsonl(envelopes: list[dict]) -> bytes:
    return b"\n".join(envelope_bytes(envelope) for envelope in envelopes) + b"\n"


def upload_and_run(user, name: str, content: bytes, django_capture_on_commit_callbacks) -> SnapshotUpload:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = uploads.start_snapshot_upload(upload=SimpleUploadedFile(name, content), by=user)
    assert len(callbacks) == 1  # the task is queued on commit
    tasks.run_snapshot_upload(upload_id=job.pk)
    job.refresh_from_db()
    return job


@pytest.fixture
def envelopes(lfp_pack, oem_device_key):
    signed = [sign_envelope(payload) for payload in lfp_history(6)]
    signed[2]["payload"]["soh_pct"] = 50.0  # altered after signing
    return signed


def test_json_lines_upload_is_ingested_with_a_per_item_report(
    envelopes, oem_admin, django_capture_on_commit_callbacks
):
    job = upload_and_run(oem_admin, "week.jsonl", jsonl(envelopes), django_capture_on_commit_callbacks)
    assert (job.status, job.percent, job.item_count, job.stored_count, job.refused_count) == (
        "succeeded",
        100,
        6,
        5,
        1,
    )
    (refusal,) = job.refusals
    assert (refusal["source"], refusal["code"], refusal["field"]) == (
        "week.jsonl:3",
        "SIGNATURE_INVALID",
        "signature.value",
    )
    assert job.battery_codes == [envelopes[0]["payload"]["battery_code"]]
    assert Snapshot.objects.count() == 5


def test_json_array_and_zip_uploads(envelopes, oem_admin, django_capture_on_commit_callbacks):
    array = json.dumps(envelopes[:3]).encode()
    job = upload_and_run(oem_admin, "three.json", array, django_capture_on_commit_callbacks)
    assert (job.stored_count, job.refused_count) == (2, 1)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("rest/week.jsonl", jsonl(envelopes[3:5]))
        bundle.writestr("rest/one.json", envelope_bytes(envelopes[5]))
        bundle.writestr("README.txt", "ignored")
    job = upload_and_run(oem_admin, "rest.zip", archive.getvalue(), django_capture_on_commit_callbacks)
    assert (job.item_count, job.stored_count, job.refused_count) == (3, 3, 0)
    assert Snapshot.objects.count() == 5


def test_unreadable_upload_fails_with_a_reason(lfp_pack, oem_admin, django_capture_on_commit_callbacks):
    job = upload_and_run(
        oem_admin, "broken.zip", b"PK\x03\x04 not really", django_capture_on_commit_callbacks
    )
    assert job.status == "failed"
    assert "zip" in job.error


def test_upload_task_runs_once(envelopes, oem_admin, django_capture_on_commit_callbacks):
    job = upload_and_run(oem_admin, "week.jsonl", jsonl(envelopes), django_capture_on_commit_callbacks)
    tasks.run_snapshot_upload(upload_id=job.pk)  # redelivered: the job was already claimed
    assert Snapshot.objects.count() == 5


def test_viewers_and_buyers_cannot_upload(lfp_pack, recycler_viewer, buyer_user):
    for user in (recycler_viewer, buyer_user):
        with pytest.raises(uploads.NotPermitted):
            uploads.start_snapshot_upload(upload=SimpleUploadedFile("a.json", b"{}"), by=user)


def test_zip_bomb_is_refused_before_inflating(lfp_pack, oem_admin, settings):
    settings.SNAPSHOT_UPLOAD_MAX_BYTES = 1000
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("big.jsonl", b" " * 100_000)
    archive.seek(0)
    with pytest.raises(uploads.UploadError):
        list(uploads.read_file_items("bomb.zip", archive))


# ---------------------------------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------------------------------
def test_retention_job_shreds_expired_unheld_payloads_and_keeps_metadata(
    oem_org, oem_admin, lfp_pack, oem_device_key, regulator
):
    old, held = expired_snapshots(oem_org, oem_admin, count=2)
    services.place_legal_hold(battery=held.battery, snapshot=held, by=regulator, reason="Litigation 2026-3")
    current = stored(lfp_history(1)[0], oem_org, oem_admin)
    run = retention.enforce_retention(batch_size=1)
    assert run.status == "succeeded"
    assert run.counts["shredded"] == 1
    assert run.counts["held_expired"] == 1
    old.refresh_from_db()
    assert old.shredded_at is not None
    assert old.payload_ciphertext is None
    assert old.payload_wrapped_key is None
    assert old.payload_hash
    assert old.soh_pct == 87.2
    shred = SnapshotShred.objects.get()
    assert shred.snapshot == old
    assert shred.retention_until == old.retention_until
    held.refresh_from_db()
    current.refresh_from_db()
    assert held.shredded_at is None
    assert current.shredded_at is None
    again = retention.enforce_retention()
    assert again.counts["shredded"] == 0  # idempotent
    assert JobRun.objects.filter(job="passport.enforce_retention").count() == 2


def test_lifting_the_hold_lets_the_next_run_shred(oem_org, oem_admin, auditor):
    old, _other = expired_snapshots(oem_org, oem_admin, count=2)
    hold = services.place_legal_hold(battery=old.battery, by=auditor, reason="Audit")
    assert retention.enforce_retention().counts["shredded"] == 0
    services.lift_legal_hold(hold=hold, by=auditor, reason="Audit done")
    assert retention.enforce_retention().counts["shredded"] == 2


def test_raw_read_of_a_shredded_payload_is_refused(oem_org, oem_admin, regulator):
    old, _other = expired_snapshots(oem_org, oem_admin, count=2)
    retention.enforce_retention()
    old = Snapshot.objects.select_related("battery__oem", "battery__current_custodian").get(pk=old.pk)
    with pytest.raises(services.Conflict) as refused:
        services.read_raw_telemetry(user=regulator, snapshot=old, purpose="Historic review of 2016")
    assert refused.value.code == "PAYLOAD_SHREDDED"


def test_retention_task_and_command_run_the_job(oem_org, oem_admin):
    expired_snapshots(oem_org, oem_admin, count=2)
    counts = tasks.enforce_retention()
    assert counts["shredded"] == 2
    out = io.StringIO()
    call_command("enforce_retention", stdout=out)
    assert "shredded=0" in out.getvalue()


def test_retention_job_is_scheduled_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["passport-enforce-retention"]
    assert entry["task"] == "passport.enforce_retention"


# ---------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------
def test_ingest_snapshots_command_reports_per_item(envelopes, oem_org, oem_admin, tmp_path):
    path = tmp_path / "week.jsonl"
    path.write_bytes(jsonl(envelopes))
    out = io.StringIO()
    call_command(
        "ingest_snapshots", str(path), organisation=oem_org.name, user=oem_admin.username, stdout=out
    )
    text = out.getvalue()
    assert "5 stored, 1 refused" in text
    assert "week.jsonl:3: SIGNATURE_INVALID" in text
    assert Snapshot.objects.count() == 5


def test_rotate_keys_command(lfp_pack, oem_device_key, oem_org, oem_admin, settings):
    from tests.passport.snapshot_helpers import ingest
    from tests.passport.test_snapshot_services import NEW_KEK

    ingest(lfp_history(3), oem_org, oem_admin)
    settings.KEY_ENCRYPTION_KEYS = f"{NEW_KEK},{settings.KEY_ENCRYPTION_KEYS}"
    out = io.StringIO()
    call_command("rotate_keys", "--batch-size", "2", stdout=out)
    assert "Re-wrapped 3 data keys under test-k2 in 2 batches; 0 still under other keys." in out.getvalue()
    assert set(Snapshot.objects.values_list("payload_kek_id", flat=True)) == {"test-k2"}


def test_rotation_leaves_shredded_rows_alone(oem_org, oem_admin, settings):
    from tests.passport.test_snapshot_services import NEW_KEK

    expired_snapshots(oem_org, oem_admin, count=2)
    retention.enforce_retention()
    settings.KEY_ENCRYPTION_KEYS = f"{NEW_KEK},{settings.KEY_ENCRYPTION_KEYS}"
    assert services.rotate_keys()["rotated"] == 0
    assert not Snapshot.objects.filter(shredded_at__isnull=True).exists()
