"""Report services: scopes refused by name, the size limit, the gate, building, cancelling, signed
manifests, logged and authorised downloads, expiry."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from accounts.models import Organisation
from core.errors import AppendOnlyViolation, NotPermitted
from core.models import JobRun
from crossborder.errors import CrossBorderRefused, ExportBlocked
from crossborder.models import ExportLogEntry
from custody.transparency.keys import log_signer
from passport.models import Battery
from reports import services, tasks
from reports.errors import ReportEmpty, ReportExpired, ReportNotReady, ReportTooLarge, ScopeNotVisible
from reports.formats import registry
from reports.manifest import ManifestError, verify_files, verify_signature
from reports.models import Report, ReportDownload, ReportFile
from tests.factories import BatteryFactory, OrganisationFactory, licensed_facility
from tests.reports.conftest import MODULES, build

pytestmark = pytest.mark.django_db


def _csv(user, **scope):
    return services.request_report(user=user, format="csv", **scope)


# ---------------------------------------------------------------------------------------------------
# Requests: what may be asked for
# ---------------------------------------------------------------------------------------------------
def test_request_report_queues_a_build_after_commit(history, auditor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        report = _csv(auditor, battery_codes=[history["pack"].code, *MODULES], title="Pack audit")
    assert len(callbacks) == 1
    assert report.status == Report.Status.PENDING
    assert report.organisation == auditor.organisation
    assert report.subject_count == report.total_count == 3
    assert report.scope["batteries"] == 3
    assert report.scope["data_classes"] == ["public", "restricted"]
    assert report.scope["jurisdictions"] == ["CN"]
    expected = sorted(
        Battery.objects.filter(code__in=[history["pack"].code, *MODULES]).values_list("code", "pk")
    )
    assert report.subjects["battery_ids"] == [pk for _code, pk in expected]


def test_request_report_refuses_a_battery_the_requester_may_not_see_by_name(
    history, other_recycler_admin, django_capture_on_commit_callbacks
):
    with pytest.raises(ScopeNotVisible) as refused, django_capture_on_commit_callbacks() as callbacks:
        _csv(other_recycler_admin, battery_codes=[history["pack"].code])
    assert refused.value.code == "BATTERY_NOT_FOUND"
    assert refused.value.field == "battery_codes"
    assert history["pack"].code in str(refused.value.message)
    assert not Report.objects.exists()
    assert not callbacks


def test_an_unknown_code_is_refused_like_an_invisible_one(history, auditor):
    with pytest.raises(ScopeNotVisible) as refused:
        _csv(auditor, battery_codes=[history["pack"].code, "NOPE-1"])
    assert "NOPE-1" in str(refused.value.message)
    assert history["pack"].code not in str(refused.value.message)
    assert not Report.objects.exists()


def test_authorities_see_only_their_jurisdiction(history, foreign_regulator):
    with pytest.raises(ScopeNotVisible):
        _csv(foreign_regulator, battery_codes=[history["pack"].code])
    assert not Report.objects.exists()


def test_a_facility_or_organisation_of_another_is_refused(history, other_recycler_admin, recycler_org):
    with pytest.raises(ScopeNotVisible) as refused:
        _csv(other_recycler_admin, facility=history["site"].pk)
    assert refused.value.code == "FACILITY_NOT_FOUND"
    with pytest.raises(ScopeNotVisible) as refused:
        _csv(other_recycler_admin, organisation=recycler_org.pk)
    assert refused.value.code == "ORGANISATION_NOT_FOUND"
    with pytest.raises(ScopeNotVisible) as refused:
        _csv(other_recycler_admin, lot_codes=["LOT-NOPE"])
    assert refused.value.code == "LOT_NOT_FOUND"
    assert not Report.objects.exists()


def test_a_facility_scope_leaves_out_what_the_requester_may_not_read(
    history, recycler_admin, recycler_operator, recycler_site, oem_org
):
    # A battery the recycler took in, whose custody later went elsewhere, is left out and counted.
    other = BatteryFactory(manufacturer__oem=oem_org)
    from custody import services as custody_services

    custody_services.record_intake(by=recycler_operator, code=other.code, facility=recycler_site)
    Battery.objects.filter(pk=other.pk).update(current_custodian=OrganisationFactory())
    report = _csv(recycler_admin, facility=recycler_site.pk)
    assert report.subjects["battery_ids"] == [history["pack"].pk]
    assert report.scope["excluded"] == 1
    assert report.scope["facility"] == {"id": recycler_site.pk, "name": recycler_site.name}


def test_an_empty_scope_is_refused(auditor, history, recycler_admin):
    with pytest.raises(ReportEmpty) as refused:
        _csv(auditor)
    assert refused.value.status_code == 422
    other_site = licensed_facility(recycler_admin.organisation, name="Empty plant")
    with pytest.raises(ReportEmpty):
        _csv(recycler_admin, facility=other_site.pk)
    assert not Report.objects.exists()


def test_a_scope_over_the_limit_is_refused_naming_the_count_and_the_limit(history, auditor, settings):
    settings.REPORT_MAX_SUBJECTS = 2
    with pytest.raises(ReportTooLarge) as refused:
        _csv(auditor, battery_codes=[history["pack"].code, *MODULES])
    assert refused.value.code == "REPORT_TOO_LARGE"
    assert refused.value.status_code == 422
    assert "3" in str(refused.value.message)
    assert "2" in str(refused.value.message)
    assert not Report.objects.exists()


def test_request_report_checks_format_options_and_membership(history, auditor):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        services.request_report(user=auditor, format="xlsx", battery_codes=[history["pack"].code])
    assert refused.value.code == "UNKNOWN_FORMAT"
    with pytest.raises(InvalidInput) as refused:
        services.request_report(
            user=auditor, format="bundle", anonymised=True, battery_codes=[history["pack"].code]
        )
    assert refused.value.code == "NOT_ANONYMISABLE"
    now = timezone.now()
    with pytest.raises(InvalidInput) as refused:
        _csv(auditor, battery_codes=[history["pack"].code], date_from=now, date_to=now - timedelta(days=1))
    assert refused.value.code == "BAD_DATE_RANGE"
    auditor.membership.delete()
    auditor.refresh_from_db()
    with pytest.raises(NotPermitted):
        _csv(auditor, battery_codes=[history["pack"].code])


def test_a_gate_refusal_leaves_no_report_and_is_logged(
    lfp_pack,
    oem_org,
    oem_admin,
    oem_device_key,
    recycler_operator,
    recycler_site,
    recycler_org,
    foreign_regulator,
):
    # A pack made by a German OEM and held by a Chinese recycler: Germany's regulator reads it at the
    # authority tier, so its bundle would carry the signed BMS payloads, data held in China, abroad.
    from custody import services as custody_services
    from tests.passport.snapshot_helpers import stored
    from tests.snapshot_builders import lfp_payload

    snapshot = stored(lfp_payload(thermal_events=0), oem_org, oem_admin)
    custody_services.record_intake(
        by=recycler_operator, code=lfp_pack.code, facility=recycler_site, snapshots=[snapshot.payload_hash]
    )
    Organisation.objects.filter(pk=oem_org.pk).update(country="DE")
    assert Battery.objects.get(pk=lfp_pack.pk).current_custodian == recycler_org
    with pytest.raises(CrossBorderRefused) as refused:
        services.request_report(user=foreign_regulator, format="bundle", battery_codes=[lfp_pack.code])
    assert refused.value.code == "CROSS_BORDER_NOT_APPROVED"
    assert not Report.objects.exists()
    entry = ExportLogEntry.objects.get(outcome="refused")
    assert (entry.channel, entry.data_jurisdiction, entry.holder) == ("report", "CN", recycler_org)
    assert set(entry.data_classes) == {"public", "restricted", "telemetry", "personal"}
    # The CSV carries no telemetry: the gate lets it through and logs that no approval was needed.
    report = services.request_report(user=foreign_regulator, format="csv", battery_codes=[lfp_pack.code])
    assert report.scope["jurisdictions"] == ["CN"]
    assert ExportLogEntry.objects.filter(outcome="not_required", channel="report").count() == 1


def test_a_download_abroad_is_refused_once_the_approval_is_revoked(
    lfp_pack,
    oem_org,
    oem_admin,
    oem_device_key,
    recycler_operator,
    recycler_admin,
    recycler_site,
    recycler_org,
    foreign_regulator,
):
    # The same German regulator, now with an approval from the Chinese custodian: the bundle is built.
    from crossborder import services as crossborder_services
    from custody import services as custody_services
    from tests.passport.snapshot_helpers import stored
    from tests.snapshot_builders import lfp_payload

    snapshot = stored(lfp_payload(thermal_events=0), oem_org, oem_admin)
    custody_services.record_intake(
        by=recycler_operator, code=lfp_pack.code, facility=recycler_site, snapshots=[snapshot.payload_hash]
    )
    Organisation.objects.filter(pk=oem_org.pk).update(country="DE")
    now = timezone.now()
    approval = crossborder_services.record_approval(
        by=recycler_admin,
        holder=recycler_org,
        recipient=foreign_regulator.organisation,
        destination_country="DE",
        data_classes=["telemetry", "personal"],
        basis="regulator_approval",
        reference="CAC-2026-0042",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
    )
    report = build(
        services.request_report(user=foreign_regulator, format="bundle", battery_codes=[lfp_pack.code])
    )
    assert report.status == Report.Status.SUCCEEDED, report.error_message
    assert "telemetry" in report.scope["data_classes"]
    _file, handle = services.open_download(report=report, user=foreign_regulator, channel="api")
    handle.close()
    assert ExportLogEntry.objects.filter(channel="report_download", outcome="allowed").count() == 1
    # The download is the transfer: once the approval is revoked, the file no longer leaves.
    crossborder_services.revoke_approval(approval=approval, by=recycler_admin, reason="Contract ended")
    with pytest.raises(CrossBorderRefused) as refused:
        services.open_download(report=report, user=foreign_regulator, channel="api")
    assert refused.value.code == "CROSS_BORDER_APPROVAL_EXPIRED"
    assert ExportLogEntry.objects.filter(channel="report_download", outcome="refused").count() == 1
    assert ReportDownload.objects.filter(report=report).count() == 1


# ---------------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------------
def test_build_report_writes_the_file_and_a_signed_manifest(history, auditor):
    report = build(_csv(auditor, battery_codes=[history["pack"].code, *MODULES]))
    assert report.status == Report.Status.SUCCEEDED, report.error_message
    assert report.percent == 100
    assert report.done_count == 3
    assert report.unit_count == 4  # pack: registered, intake; each module: registered
    assert report.expires_at == report.finished_at + timedelta(hours=settings.REPORT_TTL_HOURS)
    main, manifest_file = report.files.get(kind="main"), report.files.get(kind="manifest")
    folder = Path(settings.MEDIA_ROOT) / "reports" / report.storage_key
    assert sorted(path.name for path in folder.iterdir()) == sorted([main.name, "manifest.json"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == report.manifest
    assert manifest["format"] == "voltrace.report-manifest/1"
    assert manifest["report"]["id"] == report.pk
    assert manifest["files"] == [
        {"name": main.name, "size": main.size, "sha256": main.sha256, "content_type": main.content_type}
    ]
    assert manifest_file.size == (folder / "manifest.json").stat().st_size


def test_the_manifest_signature_verifies_with_the_log_key(history, auditor):
    report = build(_csv(auditor, battery_codes=[history["pack"].code]))
    manifest = dict(report.manifest)
    signature = manifest.pop("signature")
    signer = log_signer()
    assert signature["vkey"] == signer.verifier.vkey
    assert signature["key_id"] == signer.verifier.key_id.hex()
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(signature["public_key_b64"]))
    public_key.verify(base64.b64decode(signature["value"]), rfc8785.dumps(manifest))  # raises if wrong
    verify_signature(report.manifest, signer.verifier.vkey)
    folder = Path(settings.MEDIA_ROOT) / "reports" / report.storage_key
    assert verify_files(report.manifest, folder) == 1
    tampered = {**report.manifest, "generated_at": "2020-01-01T00:00:00Z"}
    with pytest.raises(ManifestError):
        verify_signature(tampered, signer.verifier.vkey)
    (folder / report.files.get(kind="main").name).write_bytes(b"changed")
    with pytest.raises(ManifestError):
        verify_files(report.manifest, folder)


def test_build_report_runs_once(history, auditor):
    report = build(_csv(auditor, battery_codes=[history["pack"].code]))
    again = build(report)
    assert again.status == Report.Status.SUCCEEDED
    assert ReportFile.objects.filter(report=report).count() == 2


def test_the_task_calls_the_service(history, auditor):
    report = _csv(auditor, battery_codes=[history["pack"].code])
    tasks.build_report(report_id=report.pk)
    assert Report.objects.get(pk=report.pk).status == Report.Status.SUCCEEDED


def test_a_failing_writer_leaves_no_file(history, auditor, monkeypatch):
    def broken(ctx, out):
        out.write(b"half a file")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(registry.FormatSpec, "writer", lambda spec: broken)
    report = _csv(auditor, battery_codes=[history["pack"].code])
    with pytest.raises(RuntimeError):
        build(report)
    report.refresh_from_db()
    assert report.status == Report.Status.FAILED
    assert report.error_code == "REPORT_FAILED"
    assert not (Path(settings.MEDIA_ROOT) / "reports" / report.storage_key).exists()
    assert not report.files.exists()


def test_a_domain_error_fails_the_report_with_its_code(history, auditor, monkeypatch):
    from core.errors import DomainError

    def refusing(ctx, out):
        raise DomainError("No log yet.", code="LOG_INCOMPLETE")

    monkeypatch.setattr(registry.FormatSpec, "writer", lambda spec: refusing)
    report = build(_csv(auditor, battery_codes=[history["pack"].code]))
    assert (report.status, report.error_code, report.error_message) == (
        "failed",
        "LOG_INCOMPLETE",
        "No log yet.",
    )


def test_an_anonymised_report_is_scanned_before_release(history, auditor):
    report = build(_csv(auditor, battery_codes=[history["pack"].code], anonymised=True))
    assert report.status == Report.Status.SUCCEEDED, report.error_message
    entry = ExportLogEntry.objects.get(channel="anonymised_export")
    assert entry.scanned
    assert entry.outcome == "not_required"
    assert "battery_codes" not in report.manifest["scope"]
    assert "title" not in report.manifest["report"]


def test_a_scanner_hit_fails_the_report_and_deletes_the_file(history, auditor, monkeypatch):
    def leaky(ctx, out):
        out.write(b"subject,note\r\nx,call 13812345678\r\n")  # a Chinese mobile number
        return 1

    monkeypatch.setattr(registry.FormatSpec, "writer", lambda spec: leaky)
    report = build(_csv(auditor, battery_codes=[history["pack"].code], anonymised=True))
    assert report.status == Report.Status.FAILED
    assert report.error_code == ExportBlocked.default_code
    assert not (Path(settings.MEDIA_ROOT) / "reports" / report.storage_key).exists()
    assert not report.files.exists()
    assert ExportLogEntry.objects.filter(outcome="blocked", channel="anonymised_export").exists()


# ---------------------------------------------------------------------------------------------------
# Cancelling
# ---------------------------------------------------------------------------------------------------
def test_cancelling_a_waiting_report_stops_it_before_it_starts(history, auditor):
    report = _csv(auditor, battery_codes=[history["pack"].code])
    services.cancel_report(report=report, user=auditor)
    report = build(report)
    assert report.status == Report.Status.CANCELLED
    assert not report.files.exists()


def test_cancelling_a_running_report_discards_its_partial_file(history, auditor, monkeypatch):
    report = _csv(auditor, battery_codes=[history["pack"].code, *MODULES])
    seen = {}

    def slow(ctx, out):
        out.write(b"partial")
        seen["folder"] = Path(settings.MEDIA_ROOT) / "reports" / Report.objects.get(pk=report.pk).storage_key
        services.cancel_report(report=Report.objects.get(pk=report.pk), user=auditor)  # the user clicks
        ctx.tick(1)
        raise AssertionError("tick should have raised")

    monkeypatch.setattr(registry.FormatSpec, "writer", lambda spec: slow)
    report = build(report)
    assert report.status == Report.Status.CANCELLED
    assert not seen["folder"].exists()
    assert not report.files.exists()


def test_a_finished_report_cannot_be_cancelled(history, auditor, other_recycler_admin):
    from core.errors import Conflict, NotFound

    report = build(_csv(auditor, battery_codes=[history["pack"].code]))
    with pytest.raises(Conflict):
        services.cancel_report(report=report, user=auditor)
    with pytest.raises(NotFound):
        services.cancel_report(report=report, user=other_recycler_admin)


# ---------------------------------------------------------------------------------------------------
# Downloads and expiry
# ---------------------------------------------------------------------------------------------------
def test_downloads_are_logged_and_only_for_the_requesting_organisation(
    history, auditor, auditor_admin, regulator
):
    from core.errors import NotFound

    report = build(_csv(auditor, battery_codes=[history["pack"].code]))
    file, handle = services.open_download(report=report, user=auditor_admin, channel="api", purpose="Audit 7")
    with handle:
        assert handle.read().startswith("\ufeff".encode())
    assert file.kind == "main"
    manifest, handle = services.open_download(
        report=report, user=auditor, name="manifest.json", channel="web"
    )
    handle.close()
    assert manifest.kind == "manifest"
    logged = list(
        ReportDownload.objects.order_by("at", "id").values_list("user__username", "file__kind", "purpose")
    )
    assert logged == [("auditor-admin", "main", "Audit 7"), ("auditor", "manifest", "")]
    with pytest.raises(NotFound):
        services.open_download(report=report, user=regulator, channel="api")
    with pytest.raises(NotFound) as missing:
        services.open_download(report=report, user=auditor, name="../secrets", channel="api")
    assert missing.value.code == "FILE_NOT_FOUND"
    assert ReportDownload.objects.count() == 2
    with pytest.raises(AppendOnlyViolation):
        ReportDownload.objects.first().delete()


def test_a_report_without_files_cannot_be_downloaded(history, auditor):
    report = _csv(auditor, battery_codes=[history["pack"].code])
    with pytest.raises(ReportNotReady):
        services.open_download(report=report, user=auditor, channel="api")


def test_expiry_deletes_files_marks_reports_and_answers_410(history, auditor):
    report = build(_csv(auditor, battery_codes=[history["pack"].code]))
    folder = Path(settings.MEDIA_ROOT) / "reports" / report.storage_key
    assert services.expire_reports()["expired"] == 0
    Report.objects.filter(pk=report.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    report.refresh_from_db()
    with pytest.raises(ReportExpired):
        services.open_download(report=report, user=auditor, channel="api")  # due, even before the sweep
    assert services.expire_reports() == {"expired": 1, "abandoned": 0}
    report.refresh_from_db()
    assert report.status == Report.Status.EXPIRED
    assert not folder.exists()
    assert report.files.count() == 2  # what was produced stays on record
    with pytest.raises(ReportExpired) as gone:
        services.open_download(report=report, user=auditor, channel="api")
    assert gone.value.status_code == 410


def test_the_sweep_fails_builds_whose_worker_died(history, auditor):
    report = _csv(auditor, battery_codes=[history["pack"].code])
    Report.objects.filter(pk=report.pk).update(
        status=Report.Status.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )
    folder = Path(settings.MEDIA_ROOT) / "reports" / report.storage_key
    folder.mkdir(parents=True)
    (folder / "x.part").write_bytes(b"partial")
    assert services.expire_reports() == {"expired": 0, "abandoned": 1}
    report.refresh_from_db()
    assert (report.status, report.error_code) == ("failed", "REPORT_ABANDONED")
    assert not folder.exists()


def test_the_expiry_task_records_a_job_run_and_beat_runs_it():
    tasks.expire_reports()
    assert JobRun.objects.get(job="reports.expire_reports").counts == {"expired": 0, "abandoned": 0}
    entry = settings.CELERY_BEAT_SCHEDULE["reports-expire"]
    assert entry["task"] == "reports.expire_reports"


def test_the_registry_lists_the_four_formats():
    assert set(registry.FORMATS) == {"pdf", "csv", "bundle", "epcis"}
    for spec in registry.FORMATS.values():
        assert spec.writer_path.startswith(f"reports.formats.{spec.name}:write_")
    assert registry.FORMATS["csv"].writer().__name__ == "write_csv"
    assert registry.FORMATS["bundle"].classes_for(includes_payloads=True) == [
        "public",
        "restricted",
        "telemetry",
        "personal",
    ]
    assert registry.FORMATS["csv"].classes_for(includes_payloads=True) == ["public", "restricted"]
