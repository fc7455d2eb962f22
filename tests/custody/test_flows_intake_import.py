"""Batch intake from a CSV: checked whole, then recorded whole or not at all, with a per-row report."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from custody import services, tasks
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.intake.models import IntakeImport
from passport.models import Battery
from passport.services import RegistrationRequest, register_batteries
from tests.conftest import PASSWORD
from tests.factories import gbt_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


@pytest.fixture
def packs(oem_admin, hnc_models) -> list[str]:
    codes = [gbt_code("HNC", serial=serial) for serial in (11, 12, 13)]
    register_batteries(
        requests=[RegistrationRequest(code=code, model="HN-LFP-280-PACK") for code in codes], by=oem_admin
    )
    return codes


def upload(text: str, name: str = "intake.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def run(user, site, text: str, django_capture_on_commit_callbacks) -> IntakeImport:
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.start_intake_import(upload=upload(text), facility=site, by=user)
    assert len(callbacks) == 1  # the import task, queued once the upload is committed
    tasks.run_intake_import(import_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_clean_file_is_recorded_whole_with_a_report_per_row(
    packs, recycler_operator, recycler_site, django_capture_on_commit_callbacks
):
    text = "code,occurred_at,note\n" + "\n".join(f"{code},,pallet {n}" for n, code in enumerate(packs))
    job = run(recycler_operator, recycler_site, text, django_capture_on_commit_callbacks)
    assert job.status == "succeeded"
    assert job.percent == 100
    assert (job.row_count, job.recorded_count, job.error_count) == (3, 3, 0)
    assert [row["code"] for row in job.report] == packs
    assert [row["row"] for row in job.report] == [2, 3, 4]
    event = CustodyEvent.objects.get(battery__code=packs[0], type="intake")
    assert job.report[0]["event_hash"] == bytes(event.hash).hex()
    assert set(Battery.objects.filter(code__in=packs).values_list("status", flat=True)) == {"in_custody"}
    tasks.run_intake_import(import_id=job.pk)  # a redelivered task does nothing more
    assert CustodyEvent.objects.filter(type="intake").count() == 3


def test_one_bad_row_fails_the_whole_file_and_every_problem_is_listed(
    packs, recycler_operator, recycler_site, django_capture_on_commit_callbacks
):
    Battery.objects.filter(code=packs[1]).update(status="recycled")
    text = "\n".join(
        [
            "code,occurred_at",
            f"{packs[0]},",
            f"{packs[1]},",
            f"{gbt_code('HNC', serial=99)},",
            f"{packs[2]},yesterday",
            f"{packs[0]},",
            "=cmd|' /C calc'!A0,",
        ]
    )
    job = run(recycler_operator, recycler_site, text, django_capture_on_commit_callbacks)
    assert job.status == "failed"
    assert job.recorded_count == 0
    assert [(error["row"], error["code"]) for error in job.errors] == [
        (5, "TIME_INVALID"),
        (7, "FORMULA_CELL"),
    ]
    assert not CustodyEvent.objects.filter(type="intake").exists()
    text = "\n".join(["code", packs[0], packs[1], gbt_code("HNC", serial=99), packs[0]])
    job = run(recycler_operator, recycler_site, text, django_capture_on_commit_callbacks)
    assert [(error["row"], error["code"]) for error in job.errors] == [
        (3, "ILLEGAL_TRANSITION"),
        (4, "BATTERY_NOT_FOUND"),
        (5, "DUPLICATE_IN_FILE"),
    ]
    assert not CustodyEvent.objects.filter(type="intake").exists()


def test_a_file_for_an_unlicensed_site_records_nothing(
    packs, recycler_operator, django_capture_on_commit_callbacks
):
    from tests.factories import FacilityFactory

    bare = FacilityFactory(organisation=recycler_operator.organisation)
    job = run(recycler_operator, bare, "code\n" + packs[0], django_capture_on_commit_callbacks)
    assert job.status == "failed"
    assert job.errors[0]["code"] == "NO_LICENCE"


def test_the_header_must_name_known_columns(
    packs, recycler_operator, recycler_site, django_capture_on_commit_callbacks
):
    job = run(recycler_operator, recycler_site, "battery,when\nX,Y", django_capture_on_commit_callbacks)
    assert {error["code"] for error in job.errors} == {"UNKNOWN_COLUMN", "MISSING_COLUMN"}


def test_the_pages_upload_a_file_and_poll_its_progress(
    client, packs, recycler_operator, recycler_site, django_capture_on_commit_callbacks
):
    client.login(username=recycler_operator.username, password=PASSWORD)
    assert client.get("/custody/intake/batch/").status_code == 200
    with django_capture_on_commit_callbacks():
        response = client.post(
            "/custody/intake/batch/", {"facility": recycler_site.pk, "file": upload("code\n" + packs[0])}
        )
    job = IntakeImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/custody/intake/batch/{job.pk}/"
    pending = client.get(f"/custody/intake/batch/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-status="pending"' in pending
    assert "hx-trigger" in pending
    tasks.run_intake_import(import_id=job.pk)
    done = client.get(f"/custody/intake/batch/{job.pk}/").content.decode()
    assert 'data-status="succeeded"' in done
    assert 'data-testid="intake-report"' in done
    assert packs[0] in done
    assert "hx-trigger" not in done
