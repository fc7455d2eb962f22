from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from passport import services, tasks
from passport.models import Battery, CloneAlert, LabelSheet, RegistrationImport
from tests.factories import BatteryFactory, gbt_code
from tests.passport.conftest import CELL, MODULE, PACK

pytestmark = pytest.mark.django_db


def run_import(user, content: bytes, django_capture_on_commit_callbacks) -> RegistrationImport:
    upload = SimpleUploadedFile("batteries.csv", content, "text/csv")
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.start_registration_import(upload=upload, by=user)
    assert len(callbacks) == 1  # the task is queued only once the job row is committed
    tasks.run_registration_import(import_id=job.pk)
    job.refresh_from_db()
    return job


def errors_of(job: RegistrationImport) -> list[tuple[int | None, str | None, str]]:
    return [(error["row"], error["column"], error["code"]) for error in job.errors]


def test_import_registers_a_whole_file_with_parents(oem_admin, models, django_capture_on_commit_callbacks):
    content = (
        "\ufeffcode,model,parent_code\n"
        f"{CELL},HN-LFP-CELL-280,{MODULE}\n"
        f"{MODULE},HN-LFP-MOD-16,{PACK}\n"
        f"{PACK},HN-LFP-280-PACK,\n"
    ).encode()
    job = run_import(oem_admin, content, django_capture_on_commit_callbacks)
    assert (job.status, job.percent, job.row_count, job.imported_count, job.errors) == (
        "succeeded",
        100,
        3,
        3,
        [],
    )
    assert Battery.objects.get(code=CELL).parent.parent.code == PACK


def test_import_of_a_bad_file_imports_nothing_and_names_rows_and_columns(
    oem_admin, recycler_admin, models, django_capture_on_commit_callbacks
):
    BatteryFactory(manufacturer=models["P"].oem.manufacturer_codes.get(), number=50)
    existing = gbt_code("HNC", serial=50)
    content = (
        "code,model\n"
        f"{PACK},HN-LFP-280-PACK\n"
        f"{PACK},HN-LFP-280-PACK\n"
        f'=HYPERLINK("x"),HN-LFP-280-PACK\n'
        f"HNCPBAB1234567T2M000000,HN-LFP-280-PACK\n"
        f"{gbt_code('HNC', serial=9)},NOPE\n"
        f"{gbt_code('HNC', serial=10)},@SUM(A1)\n"
        f"{existing},HN-LFP-280-PACK\n"
        f"{gbt_code('HNC', serial=11)},HN-LFP-280-PACK\n"
    ).encode()
    job = run_import(oem_admin, content, django_capture_on_commit_callbacks)
    assert job.status == "failed"
    assert errors_of(job) == [
        (3, "code", "DUPLICATE_IN_REQUEST"),
        (4, "code", "FORMULA_CELL"),
        (5, "code", "CODE_LENGTH"),
        (6, "model", "MODEL_UNKNOWN"),
        (7, "model", "FORMULA_CELL"),
        (8, "code", "DUPLICATE_CODE"),
    ]
    assert "row 2" in job.errors[0]["message"]
    assert Battery.objects.count() == 1  # only the one that existed before
    assert CloneAlert.objects.filter(code=existing).count() == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"code,model\nHNC\xff\xfe,x\n", [(2, None, "ENCODING")]),
        (b"code,colour\nX,red\n", [(1, "colour", "UNKNOWN_COLUMN")]),
        (b"model\nx\n", [(1, "code", "MISSING_COLUMN")]),
        (b"code,code\nX,Y\n", [(1, "code", "DUPLICATE_COLUMN")]),
        (b"code,model\n", [(None, None, "NO_ROWS")]),
        (b"code,model\nX\n", [(2, None, "ROW_LENGTH")]),
        (b"code,model\n\tHNC,x\n", [(2, "code", "FORMULA_CELL")]),
    ],
)
def test_import_refuses_malformed_files(
    oem_admin, models, django_capture_on_commit_callbacks, content, expected
):
    job = run_import(oem_admin, content, django_capture_on_commit_callbacks)
    assert job.status == "failed"
    assert errors_of(job) == expected
    assert not Battery.objects.exists()


def test_import_runs_only_once(oem_admin, models, django_capture_on_commit_callbacks):
    job = run_import(
        oem_admin, f"code,model\n{PACK},HN-LFP-280-PACK\n".encode(), django_capture_on_commit_callbacks
    )
    tasks.run_registration_import(import_id=job.pk)
    assert Battery.objects.count() == 1
    assert RegistrationImport.objects.get().imported_count == 1


def test_import_of_thousands_of_rows_uses_a_bounded_number_of_queries(
    oem_admin, models, django_capture_on_commit_callbacks
):
    rows = "".join(f"{gbt_code('HNC', serial=number)},HN-LFP-280-PACK\n" for number in range(1, 3001))
    upload = SimpleUploadedFile("big.csv", ("code,model\n" + rows).encode(), "text/csv")
    with django_capture_on_commit_callbacks():
        job = services.start_registration_import(upload=upload, by=oem_admin)
    with CaptureQueriesContext(connection) as queries:
        tasks.run_registration_import(import_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.imported_count) == ("succeeded", 3000)
    # Never a query per row: a few reads, then batched inserts (SQLite batches are smaller).
    assert len(queries.captured_queries) < 3000 / 20


def test_label_sheet_renders_an_a4_pdf(oem_admin, hnc, django_capture_on_commit_callbacks):
    codes = [BatteryFactory(manufacturer=hnc).code for _ in range(30)]
    with django_capture_on_commit_callbacks() as callbacks:
        sheet = services.request_label_sheet(codes_wanted=codes, by=oem_admin)
    assert len(callbacks) == 1
    tasks.render_label_sheet(sheet_id=sheet.pk)
    sheet.refresh_from_db()
    assert sheet.status == LabelSheet.Status.SUCCEEDED
    assert sheet.file.read(5) == b"%PDF-"
    assert len(services.labels.label_document(codes).pages) == 2  # 24 labels a page


def test_label_sheet_refuses_codes_the_user_may_not_see(other_recycler_admin, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    with pytest.raises(services.labels.InvalidInput) as caught:
        services.request_label_sheet(codes_wanted=[battery.code], by=other_recycler_admin)
    assert caught.value.code == "UNKNOWN_CODES"
