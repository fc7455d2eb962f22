"""PDF reports for people: a cover and a page per battery and lot, rendered in chunks and streamed into
one valid PDF, Chinese in an embedded CJK font, anonymised without codes, QR codes or exact times."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from PIL import Image
from pyzbar.pyzbar import decode

from config.celery import app
from crossborder.scrub import pseudonym
from custody import selectors, services
from custody.lots.models import MaterialLot
from custody.transparency.services import publish_checkpoint, sequence_pending
from passport import qr
from passport import services as passport_services
from passport.models import Battery
from passport.verdict import compute_verdict
from reports.formats import pdf, pdf_render
from reports.formats.base import ReportCancelled, ReportContext
from reports.formats.pdf import renumber, write_pdf
from reports.formats.pdf_render import ChunkFailed, WorkerLayout, qr_png, qr_source, render_chunk
from tests.conftest import need_service
from tests.factories import gbt_code, lfp_battery, licensed_facility
from tests.passport.snapshot_helpers import ingest
from tests.snapshot_builders import OTHER_BATTERY_CODE, lfp_history

pytestmark = pytest.mark.django_db

MODULE = gbt_code("HNC", product_type="M", serial=2)


@pytest.fixture
def scope(registered_pack, recycler_operator, recycler_site, test_lab_org) -> dict[str, Any]:
    """The pack taken in and graded, its module taken in and recycled into a lot of black mass."""
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    services.record_grading(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="B",
        method="x",
        lab=test_lab_org,
    )
    services.record_intake(by=recycler_operator, code=MODULE, facility=recycler_site)
    recycled = services.record_recycling(
        by=recycler_operator,
        facility=recycler_site,
        inputs=[{"code": MODULE, "mass_kg": "80.000"}],
        outputs=[{"material": "black_mass", "mass_kg": "72.000"}],
        losses_kg="8.000",
    )
    lot = MaterialLot.objects.get(code=selectors.produced_from(recycled.event)[0]["code"])
    module = Battery.objects.get(code=MODULE)
    return {"pack": registered_pack, "module": module, "lot": lot, "site": recycler_site}


def context(scope: dict[str, Any], **fields: Any) -> ReportContext:
    return ReportContext(
        battery_ids=[scope["pack"].pk, scope["module"].pk], lot_ids=[scope["lot"].pk], **fields
    )


def html_of(subjects: list[pdf.Subject]) -> str:
    return render_to_string("reports/pdf/subjects.html", {"subjects": subjects, "title": "t"})


def decoded(png: bytes) -> str:
    """The text of a one-pixel-per-module QR image, scaled up for the decoder."""
    image = Image.open(io.BytesIO(png)).convert("L")
    return decode(image.resize((image.width * 8, image.height * 8), Image.Resampling.NEAREST))[
        0
    ].data.decode()


def build(ctx: ReportContext) -> tuple[bytes, int]:
    out = io.BytesIO()
    pages = write_pdf(ctx, out)
    return out.getvalue(), pages


def check_pdf(data: bytes) -> int:
    """A well-formed PDF: every xref entry points at its object, every reference resolves; its page count."""
    assert data.startswith(b"%PDF-1.7\n")
    start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    header = re.match(rb"xref\n0 (\d+)\n", data[start:])
    assert header is not None
    size = int(header.group(1))
    table = data[start + header.end() : start + header.end() + 20 * size]
    used: dict[int, int] = {}
    for number in range(size):
        entry = table[20 * number : 20 * number + 20]
        offset, kind = int(entry[:10]), entry[17:18]
        if kind == b"n":
            assert data[offset:].startswith(b"%d 0 obj\n" % number), number
            used[number] = offset
    for offset in used.values():
        end = data.index(b"endobj", offset)
        head = data[offset:end].split(b"\nstream\n", 1)[0]
        for reference in re.findall(rb"(?<![\w.(])(\d+) 0 R", head.split(b"\n", 1)[1]):
            assert int(reference) in used, reference
    trailer = re.search(rb"trailer\n<</Size (\d+) /Root (\d+) 0 R", data)
    assert int(trailer.group(1)) == size
    root = data[used[int(trailer.group(2))] :]
    pages_object = int(re.match(rb"\d+ 0 obj\n<</Type /Catalog /Pages (\d+) 0 R", root).group(1))
    return int(re.search(rb"/Count (\d+)>>", data[used[pages_object] :]).group(1))


def font_names(data: bytes) -> set[str]:
    """The embedded (subset) fonts: /BaseFont /ABCDEF+DejaVu-Sans."""
    return {name.decode() for name in re.findall(rb"/BaseFont /[A-Z]{6}\+([^\s/>\]]+)", data)}


def test_an_english_report_has_a_cover_and_a_page_per_subject(scope):
    data, pages = build(context(scope))
    assert pages == check_pdf(data) == 4  # the cover, two batteries and a lot
    assert any(name.startswith("DejaVu-Sans") for name in font_names(data))
    assert not any("WenQuanYi" in name for name in font_names(data))  # no Chinese text, no CJK font
    assert b"/Lang <FEFF0065006E>" in data  # "en"


def test_a_chinese_report_embeds_the_cjk_font(scope):
    data, pages = build(context(scope, language="zh-hans"))
    assert pages == check_pdf(data) == 4
    assert any("WenQuanYi" in name for name in font_names(data))
    assert b"/FontFile2" in data  # embedded, not merely named


def test_each_battery_page_shows_its_qr_verdict_and_custody_steps(scope):
    cache.delete(pdf.qr_cache_key(qr.passport_url(scope["pack"].code)))  # drawn by an earlier test
    ctx = context(scope)
    subjects = pdf.battery_subjects(ctx, [scope["pack"].pk], None)
    (pack,) = subjects
    assert pack.code == scope["pack"].code
    assert [step.label for step in pack.steps] == ["registered", "taken in", "graded"]
    intake = pack.steps[1]
    assert intake.site == scope["site"].name
    assert (intake.activity, intake.status) == ("Intake", "Active")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \+08:00", intake.when)  # the plant's local time
    assert [reason.name for reason in pack.verdict.reasons] == [
        "origin",
        "licensed_sites",
        "bms_history",
        "chain_intact",
    ]
    html = html_of(subjects)
    assert scope["pack"].code in html
    assert pack.verdict.label in html
    # Not drawn yet: the layout draws it from the address, and the report caches what it drew.
    assert pack.qr == qr_source(qr.passport_url(scope["pack"].code))
    pdf.cache_qr_images(render_chunk(html).qr_images)
    (pack,) = pdf.battery_subjects(ctx, [scope["pack"].pk], None)
    assert pack.qr.startswith("data:image/png;base64,")
    assert decoded(base64.b64decode(pack.qr.split(",", 1)[1])) == qr.passport_url(scope["pack"].code)


def test_an_anonymised_report_shows_no_code_qr_or_time_of_day(scope):
    ctx = context(scope, anonymised=True)
    subjects = pdf.battery_subjects(ctx, [scope["pack"].pk, scope["module"].pk], pseudonym)
    assert [subject.code for subject in subjects] == [pseudonym(scope["pack"].code), pseudonym(MODULE)]
    assert all(subject.qr is None for subject in subjects)
    assert all(
        re.fullmatch(r"\d{4}-\d{2}-\d{2}", step.when) for subject in subjects for step in subject.steps
    )
    html = html_of(subjects)
    assert scope["pack"].code not in html
    assert MODULE not in html
    assert "Production date" not in html
    data, pages = build(ctx)
    assert pages == check_pdf(data) == 4


def test_the_cover_names_the_checkpoint_that_covers_every_event(scope, auditor):
    ctx = context(scope, user=auditor)
    cover = pdf.cover_context(ctx, scope["pack"].registered_at)
    assert cover["checkpoint"] is None  # nothing sequenced yet
    assert cover["events"] == 3 + 3 + 1
    assert cover["logged"] == 0
    sequence_pending()
    publish_checkpoint()
    cover = pdf.cover_context(ctx, scope["pack"].registered_at)
    assert cover["logged"] == cover["events"] == 7
    assert cover["checkpoint"] is not None
    assert cover["checkpoint"].tree_size >= 7
    assert auditor.username in cover["requester"] or auditor.get_full_name() in cover["requester"]
    html = render_to_string("reports/pdf/cover.html", {**cover, "title": "t"})
    assert cover["checkpoint"].note in html


def page_texts(data: bytes) -> list[str]:
    need_service(bool(shutil.which("pdftotext")), "poppler-utils (pdftotext) reads the PDF's pages back")
    text = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout
    return text.decode("utf-8").split("\f")[:-1]


def footer_numbers(data: bytes) -> list[str]:
    return [re.search(r"Custody report · Voltrace\s+(\d+)\s*$", page).group(1) for page in page_texts(data)]


def test_chunks_are_streamed_into_one_pdf_and_each_subject_ticks(scope, monkeypatch, settings):
    settings.REPORT_PDF_PROCESSES = 0  # laid out in this process
    ticks: list[int] = []
    monkeypatch.setattr(pdf, "CHUNK", 1)
    data, pages = build(context(scope, tick=ticks.append))
    assert pages == check_pdf(data) == 4
    assert ticks == [1, 2, 3]
    assert footer_numbers(data) == ["1", "2", "3", "4"]  # page numbers run on across chunks


def test_worker_processes_lay_out_chunks_in_parallel_and_keep_their_order(scope, monkeypatch, settings):
    monkeypatch.setattr(pdf, "CHUNK", 1)
    settings.REPORT_PDF_PROCESSES = 0
    alone, _pages = build(context(scope))
    settings.REPORT_PDF_PROCESSES = 2
    started: list[Any] = []
    layout_for = pdf.layout_for
    monkeypatch.setattr(pdf, "layout_for", lambda *args: started.append(layout_for(*args)) or started[-1])
    ticks: list[int] = []
    data, pages = build(context(scope, tick=ticks.append))
    (layout,) = started
    assert isinstance(layout, WorkerLayout)
    assert len(layout.workers) == 2
    assert all(worker.process.returncode == 0 for worker in layout.workers)  # finished and gone
    assert pages == check_pdf(data) == 4
    assert ticks == [1, 2, 3]
    texts = page_texts(data)
    assert scope["pack"].code in texts[1]
    assert MODULE in texts[2]
    assert scope["lot"].code in texts[3]
    assert footer_numbers(data) == ["1", "2", "3", "4"]
    assert texts == page_texts(alone)  # the same report as laid out in one process
    # The QR images the workers drew are cached for the next report.
    (pack,) = pdf.battery_subjects(context(scope), [scope["pack"].pk], None)
    assert pack.qr.startswith("data:image/png;base64,")


def test_a_failing_layout_worker_fails_the_report_with_a_clear_error(scope, monkeypatch, settings):
    settings.REPORT_PDF_PROCESSES = 2
    monkeypatch.setattr(pdf, "CHUNK", 1)
    monkeypatch.setattr(pdf_render, "WORKER_MODULE", "reports.formats.no_such_worker")
    with pytest.raises(pdf.PdfLayoutFailed) as failure:
        build(context(scope))
    assert failure.value.code == "PDF_LAYOUT_FAILED"
    assert re.search(r"layout worker \d exited with status 1", str(failure.value.message))
    assert "No module named reports.formats.no_such_worker" in str(failure.value.message)


def test_a_chunk_that_cannot_be_laid_out_is_reported_by_its_worker(db):
    with WorkerLayout(1) as layout:
        layout.submit("<p>fine</p>")
        layout.submit(42)  # not HTML: WeasyPrint raises in the worker, which answers with the error
        layout.submit("<p>still fine</p>")
        assert layout.take().page_count == 1
        with pytest.raises(ChunkFailed, match="TypeError"):
            layout.take()
        assert layout.take().page_count == 1  # the worker carries on; the report decides to stop


def test_a_worker_is_replaced_after_its_share_of_chunks_and_the_order_holds(db):
    with WorkerLayout(1, chunks_per_worker=2) as layout:
        for pages in range(1, 6):
            layout.submit('<p style="break-after: page">page</p>' * pages)
        assert [layout.take().page_count for _chunk in range(5)] == [1, 2, 3, 4, 5]
    assert [worker.chunks for worker in layout.workers] == [2, 2, 1]
    assert all(worker.process.returncode == 0 for worker in layout.workers)


def test_cancelling_a_report_stops_its_layout_workers(scope, monkeypatch, settings):
    settings.REPORT_PDF_PROCESSES = 2
    monkeypatch.setattr(pdf, "CHUNK", 1)
    started: list[Any] = []
    layout_for = pdf.layout_for
    monkeypatch.setattr(pdf, "layout_for", lambda *args: started.append(layout_for(*args)) or started[-1])

    def cancel(done: int) -> None:
        raise ReportCancelled("cancelled")

    with pytest.raises(ReportCancelled):
        build(context(scope, tick=cancel))
    (layout,) = started
    assert layout.workers
    assert all(worker.process.returncode is not None for worker in layout.workers)


def test_the_layout_fetches_no_file_or_network_resource(db):
    chunk = render_chunk('<p>x</p><img src="file:///etc/hostname"><img src="http://127.0.0.1:9/x.png">')
    assert chunk.page_count == 1
    assert not any(b"/Image" in data for _number, data in chunk.objects)


def test_a_chunk_reads_its_batteries_with_a_fixed_number_of_queries_besides_the_verdict(
    registered_pack, recycler_operator, recycler_site
):
    for battery in Battery.objects.all():  # the pack and its two modules, each taken in at a licensed site
        services.record_intake(by=recycler_operator, code=battery.code, facility=recycler_site)
    ids = list(Battery.objects.order_by("pk").values_list("pk", flat=True))
    ctx = ReportContext(battery_ids=ids)
    pdf.battery_subjects(ctx, ids, None)  # the QR images are drawn and cached once
    with CaptureQueriesContext(connection) as one:
        pdf.battery_subjects(ctx, ids[:1], None)
    with CaptureQueriesContext(connection) as three:
        pdf.battery_subjects(ctx, ids, None)
    # Batteries, events, revocations and the verdicts' custody facts, whatever the chunk's size (none of
    # these batteries has a BMS snapshot, which costs the verdict one query a battery).
    assert len(one.captured_queries) == 4
    assert len(three.captured_queries) == 4


def test_a_chunks_snapshot_key_checks_are_read_in_one_query_and_match_each_batterys_own(
    lfp_pack, oem_device_key, oem_org, oem_admin
):
    other = lfp_battery(oem_org, code=OTHER_BATTERY_CODE)
    ingest(lfp_history(3), oem_org, oem_admin)
    ingest(lfp_history(2, battery_code=other.code, device_id="BMS-2"), oem_org, oem_admin)
    passport_services.revoke_device_key(  # every snapshot now counts as signed by a key not valid then
        key=oem_device_key, by=oem_admin, reason="Compromised", effective_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    ids = [lfp_pack.pk, other.pk]
    ctx = ReportContext(battery_ids=ids)
    pdf.battery_subjects(ctx, ids, None)  # the QR images are drawn and cached once
    with CaptureQueriesContext(connection) as one:
        pdf.battery_subjects(ctx, ids[:1], None)
    with CaptureQueriesContext(connection) as both:
        subjects = pdf.battery_subjects(ctx, ids, None)
    assert len(one.captured_queries) == len(both.captured_queries)
    assert sum('FROM "passport_snapshot"' in query["sql"] for query in both.captured_queries) == 1
    for subject in subjects:
        reason = subject.verdict.reasons[2]
        assert (reason.name, reason.state) == ("bms_history", "failed")
        assert subject.verdict == compute_verdict(Battery.objects.for_passport().get(code=subject.code))


def test_a_chunks_verdicts_read_together_are_each_batterys_own_verdict(
    registered_pack, recycler_operator, recycler_site
):
    for battery in Battery.objects.all():  # the modules' verdicts also weigh the pack's history
        services.record_intake(by=recycler_operator, code=battery.code, facility=recycler_site)
    ids = list(Battery.objects.order_by("pk").values_list("pk", flat=True))
    subjects = pdf.battery_subjects(ReportContext(battery_ids=ids), ids, None)
    assert len(subjects) == 3
    for subject in subjects:
        assert subject.verdict == compute_verdict(Battery.objects.for_passport().get(code=subject.code))


def test_renumbering_moves_references_and_leaves_strings_alone():
    data = b"<</Font <</F1 5 0 R>> /T (a (1 0 R) \\) 2 0 R) /H <31203020> /Kids [7 0 R 12 0 R] /M [1 0 0 1]>>"
    assert renumber(data, 10) == (
        b"<</Font <</F1 15 0 R>> /T (a (1 0 R) \\) 2 0 R) /H <31203020> /Kids [17 0 R 22 0 R] /M [1 0 0 1]>>"
    )


def test_the_module_image_is_the_passport_symbol(db):
    url = "https://passport.test/p/HNCPBAB1234567T2M0000001"
    image = Image.open(io.BytesIO(qr_png(url)))
    matrix = qr._matrix(url)
    assert image.size == (len(matrix),) * 2
    pixels = [[image.getpixel((x, y)) for x in range(image.width)] for y in range(image.height)]
    assert pixels == [[0 if dark else 255 for dark in row] for row in matrix]
    assert decoded(qr_png(url)) == url


def test_a_chinese_site_name_renders_in_an_english_report(recycler_org, recycler_operator, registered_pack):
    site = licensed_facility(recycler_org, name="赣州回收工厂")
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=site)
    data, pages = build(ReportContext(battery_ids=[registered_pack.pk]))
    assert pages == check_pdf(data) == 2
    assert any("WenQuanYi" in name for name in font_names(data))


@app.task(name="tests.reports.lay_out_in_a_pool_process")
def lay_out_in_a_pool_process(path: str) -> None:
    """Lay out two chunks with worker processes from inside a Celery pool process; say how it went."""
    import billiard

    try:
        with WorkerLayout(2, cwd=str(django_settings.BASE_DIR)) as layout:
            layout.submit("<p>one page</p>")
            layout.submit('<p>two</p><p style="break-before: page">pages</p>')
            pages = [layout.take().page_count, layout.take().page_count]
        outcome = {"pages": pages, "daemon": billiard.current_process().daemon}
        try:
            with ProcessPoolExecutor(1) as executor:
                executor.submit(int).result()
        except Exception as error:
            outcome["pool"] = str(error)
    except Exception as error:
        outcome = {"error": repr(error)}
    Path(path).write_text(json.dumps(outcome))


@pytest.mark.worker
def test_layout_workers_start_inside_a_celery_prefork_pool_process(tmp_path):
    """A prefork pool process is daemonic: `multiprocessing` refuses to give it children, plain
    subprocesses start as anywhere else."""
    queue = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "outcome.json"
    with start_worker(
        app, pool="prefork", concurrency=1, queues=[queue], perform_ping_check=False, shutdown_timeout=10
    ):
        lay_out_in_a_pool_process.apply_async(args=[str(path)], queue=queue)
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert json.loads(path.read_text()) == {
        "pages": [1, 2],
        "daemon": True,
        "pool": "daemonic processes are not allowed to have children",  # what multiprocessing would say
    }
