"""The CSV and bundle formats: what each row says, spreadsheet safety, anonymisation, offline checks."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Organisation
from crossborder.scrub import pseudonym
from custody import services as custody_services
from custody.selectors import produced_from
from custody.transparency.keys import log_signer
from custody.transparency.services import publish_checkpoint, sequence_pending
from passport.models import Battery
from reports import services
from reports.formats.base import ReportCancelled, ReportContext
from reports.formats.csv import COLUMNS, safe_cell, write_csv
from reports.models import Report
from tests.reports.conftest import MODULES, build

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _ids(*codes: str) -> list[int]:
    return [pk for _code, pk in sorted(Battery.objects.filter(code__in=codes).values_list("code", "pk"))]


def _rows(ctx: ReportContext) -> list[dict[str, str]]:
    out = io.BytesIO()
    count = write_csv(ctx, out)
    raw = out.getvalue()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(rows) == count
    return rows


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("Ganzhou plant", "Ganzhou plant"),
        ("", ""),
        (None, ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_defused(value, cell):
    assert safe_cell(value) == cell


def test_the_csv_has_one_row_per_event_with_its_proof_and_licence(history, auditor):
    sequence_pending()
    publish_checkpoint()
    pack = history["pack"]
    rows = _rows(ReportContext(battery_ids=_ids(pack.code, *MODULES), user=auditor))
    assert list(rows[0]) == list(COLUMNS)
    assert [(row["subject_code"], row["seq"], row["event_type"]) for row in rows] == [  # in code order
        (MODULES[0], "0", "registered"),
        (MODULES[1], "0", "registered"),
        (pack.code, "0", "registered"),
        (pack.code, "1", "intake"),
    ]
    intake = rows[3]
    event = pack.custody_events.get(seq=1)
    assert intake["occurred_at"] == event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert intake["facility"] == history["site"].name
    assert intake["actor_organisation"] == "Licensed Recycler"
    assert intake["activity"] == "intake"
    assert intake["licence_number"] == event.licence.number
    assert intake["licence_status_then"] == "active"
    assert intake["licence_revoked_later"] == "no"
    assert intake["event_hash"] == bytes(event.hash).hex()
    assert intake["prev_hash"] == rows[2]["event_hash"]
    assert {row["hash_matches_body"] for row in rows} == {"yes"}
    assert {row["links_to_previous"] for row in rows} == {"yes"}
    assert {row["log_status"] for row in rows} == {"checkpointed"}
    assert {row["subject_custody_check"] for row in rows} == {"passed"}
    assert {row["subject_origin"] for row in rows} == {"verified"}


def test_the_csv_flags_events_not_yet_in_a_checkpoint_and_honours_the_date_range(history, auditor):
    pack = history["pack"]
    intake = pack.custody_events.get(seq=1)
    ctx = ReportContext(battery_ids=_ids(pack.code), user=auditor, date_from=intake.occurred_at)
    rows = _rows(ctx)
    assert [row["seq"] for row in rows] == ["1"]
    assert rows[0]["links_to_previous"] == ""  # its predecessor is outside the range: not checked here
    assert rows[0]["log_status"] == "queued"
    assert rows[0]["subject_custody_check"] == "incomplete"
    assert _rows(ReportContext(battery_ids=_ids(pack.code), date_to=intake.occurred_at))[-1]["seq"] == "0"


def test_formula_like_names_are_defused_in_the_file(history, auditor, recycler_org):
    Organisation.objects.filter(pk=recycler_org.pk).update(name="=cmd|'/C calc'!A0")
    history["site"].name = "@SUM(1+1)"
    history["site"].save()
    rows = _rows(ReportContext(battery_ids=_ids(history["pack"].code), user=auditor))
    assert rows[1]["actor_organisation"] == "'=cmd|'/C calc'!A0"
    assert rows[1]["facility"] == "'@SUM(1+1)"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_an_anonymised_csv_has_pseudonyms_days_and_no_hashes(history, auditor):
    pack = history["pack"]
    rows = _rows(ReportContext(battery_ids=_ids(pack.code, *MODULES), user=auditor, anonymised=True))
    assert {row["subject_code"] for row in rows} == {pseudonym(code) for code in (pack.code, *MODULES)}
    assert all(len(row["occurred_at"]) == 10 and len(row["recorded_at"]) == 10 for row in rows)
    assert {row["event_hash"] for row in rows} == {""}
    assert {row["prev_hash"] for row in rows} == {""}
    assert {row["hash_matches_body"] for row in rows} == {"yes"}
    text = "\n".join(",".join(row.values()) for row in rows)
    assert pack.code not in text
    assert "HNC" not in text


def test_the_csv_ticks_per_subject_and_stops_when_cancelled(history, auditor):
    seen: list[int] = []
    rows = _rows(ReportContext(battery_ids=_ids(history["pack"].code, *MODULES), tick=seen.append))
    assert len(rows) == 4
    assert seen[-1] == 3
    assert seen == sorted(seen)

    def cancel(done: int) -> None:
        raise ReportCancelled("stop")

    with pytest.raises(ReportCancelled):
        write_csv(ReportContext(battery_ids=_ids(history["pack"].code), tick=cancel), io.BytesIO())


def test_a_csv_report_of_lots_lists_their_events(
    history, recycler_operator, other_recycler_admin, other_recycler_site, recycler_admin
):
    pack = history["pack"]
    custody_services.record_dismantling(
        by=recycler_operator, code=pack.code, facility=history["site"], components=MODULES[:1]
    )
    outcome = custody_services.record_recycling(
        by=recycler_operator,
        facility=history["site"],
        inputs=[{"code": MODULES[0]}],
        outputs=[{"material": "black_mass", "mass_kg": "70.000"}],
        losses_kg="10.000",
    )
    lot_code = produced_from(outcome.event)[0]["code"]
    report = build(services.request_report(user=recycler_admin, format="csv", lot_codes=[lot_code]))
    assert report.status == Report.Status.SUCCEEDED, report.error_message
    path = Path(settings.MEDIA_ROOT) / report.files.get(kind="main").path
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    assert [(row["subject_kind"], row["subject_code"], row["event_type"]) for row in rows] == [
        ("lot", lot_code, "lot_created")
    ]


# ---------------------------------------------------------------------------------------------------
# The verification bundle
# ---------------------------------------------------------------------------------------------------
def test_a_bundle_report_verifies_offline_with_the_log_key(history, auditor, tmp_path):
    report = build(
        services.request_report(user=auditor, format="bundle", battery_codes=[history["pack"].code])
    )
    assert report.status == Report.Status.SUCCEEDED, report.error_message
    assert report.unit_count == 2
    assert report.done_count == 1
    main = report.files.get(kind="main")
    assert main.content_type == "application/json"
    path = Path(settings.MEDIA_ROOT) / main.path
    key = tmp_path / "log.vkey"
    key.write_text(log_signer().verifier.vkey)
    result = subprocess.run(
        [sys.executable, "-m", "custody.verify", str(path), "--log-key", str(key)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = subprocess.run(
        [sys.executable, "-m", "reports.manifest", str(path.parent / "manifest.json"), "--log-key", str(key)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert manifest.returncode == 0, manifest.stdout + manifest.stderr
    assert "1 file(s) match" in manifest.stdout


def test_a_bundle_report_holds_whole_chains_whatever_the_date_range(history, auditor):
    pack = history["pack"]
    after_registration = pack.custody_events.get(seq=1).occurred_at
    report = build(
        services.request_report(
            user=auditor,
            format="bundle",
            battery_codes=[pack.code],
            date_from=after_registration,
            date_to=timezone.now() + timedelta(days=1),
        )
    )
    assert report.status == Report.Status.SUCCEEDED, report.error_message
    assert report.unit_count == 2


def test_a_bundle_of_subjects_without_events_fails_with_the_bundle_code(auditor, oem_org):
    from tests.factories import BatteryFactory

    battery = BatteryFactory(manufacturer__oem=oem_org)  # made outside the services: no events
    report = build(services.request_report(user=auditor, format="bundle", battery_codes=[battery.code]))
    assert (report.status, report.error_code) == ("failed", "BUNDLE_EMPTY")
    assert not report.files.exists()


def test_generated_at_is_the_manifest_time(history, auditor):
    before = datetime.now(UTC).replace(microsecond=0)
    report = build(services.request_report(user=auditor, format="csv", battery_codes=[history["pack"].code]))
    stamp = datetime.strptime(report.manifest["generated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert stamp >= before
