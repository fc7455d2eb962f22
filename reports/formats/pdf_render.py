"""Laying out one chunk of the PDF report, without Django: in the report's own process or in a worker.

WeasyPrint spends about 20 ms of CPU on each page, nearly all of it in Python, so a report of 10,000
pages only goes faster when several processes lay out chunks at once. A Celery prefork child is a
daemonic process, which `multiprocessing` refuses to give children, so the workers are plain
subprocesses (`python -m reports.formats.pdf_render`) that read chunks of HTML from stdin and write
their PDF objects to stdout, one length-prefixed pickle per message; they need no settings and no
database, because the HTML is self-contained (QR codes are `data:` images, or `qr:` addresses this
module draws and hands back to be cached).

A chunk does not know where it will stand in the report, so its pages carry no number: each page gets
an empty slot in its contents, and whoever concatenates the chunks in order fills it with the page
number, drawn in the standard Helvetica at the bottom-right corner (the running title is laid out by
WeasyPrint at the bottom-left). Chunks are therefore independent and can be laid out in any order.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import importlib
import io
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import IO, Any

# A line per page laid out would flood the report worker's log.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

WORKER_MODULE = "reports.formats.pdf_render"
QR_SCHEME = "qr:"  # <img src="qr:…">: the QR symbol of an address, drawn here (see `qr_source`)
PAGE_NUMBER_FONT = "PageNumber"  # the chunk's font resource name for the slot text
# Where the number goes, in PDF points: the right page margin and the baseline of the running title
# (`_style.html`: bottom margin 18 mm, title at 7.5pt, line-height 1.4, centred in the margin).
PAGE_NUMBER_RIGHT_MARGIN = 14 * 72 / 25.4
PAGE_NUMBER_BASELINE = 22.9
PAGE_NUMBER_SIZE = 7.5
HELVETICA_DIGIT = 0.556  # every Helvetica digit is 556/1000 em wide
_FRAME = struct.Struct(">Q")


@dataclass
class PageSlot:
    """An object number a page's contents refer to, left for the page number; where to draw it."""

    number: int
    right: float  # x of the number's right edge
    baseline: float


@dataclass
class Chunk:
    """The PDF objects of one laid-out chunk, numbered locally from 1, its own catalog left out."""

    objects: list[tuple[int, bytes]]
    pages_object: int  # the chunk's page tree, to hang under the report's
    highest: int  # the highest local object number taken (catalog and slots included)
    slots: list[PageSlot]  # one per page, in page order
    qr_images: dict[str, bytes] = field(default_factory=dict)  # address -> PNG drawn for `qr:` images

    @property
    def page_count(self) -> int:
        return len(self.slots)


class ChunkFailed(Exception):
    """A chunk could not be laid out; the message says why."""


def qr_png(url: str) -> bytes:
    """The QR symbol of `url` as a PNG of one pixel per module, quiet zone included: the passport's
    symbol (same error correction and quiet zone), which the page scales up without smoothing."""
    import qrcode
    from PIL import Image

    from passport.qr import ERROR_CORRECTION, QUIET_ZONE

    symbol = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=QUIET_ZONE, box_size=1)
    symbol.add_data(url)
    symbol.make(fit=True)
    matrix = symbol.get_matrix()
    image = Image.new("1", (len(matrix), len(matrix)), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def qr_source(url: str) -> str:
    """An image source that has the layout draw the QR symbol of `url`: the address travels in
    base64url, which no URL handling on the way changes."""
    return QR_SCHEME + base64.urlsafe_b64encode(url.encode()).decode("ascii")


def _fetcher(drawn: dict[str, bytes]) -> Any:
    """Only `data:` and `qr:` resources: a report never reaches out to the network or the disk."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class ReportFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith(QR_SCHEME):
                address = base64.urlsafe_b64decode(url[len(QR_SCHEME) :]).decode()
                png = drawn.get(address)
                if png is None:
                    png = drawn[address] = qr_png(address)
                return URLFetcherResponse(url, png, headers={"Content-Type": "image/png"})
            return super().fetch(url, headers)

    return ReportFetcher(allowed_protocols=("data",))


def _reference_number(reference: bytes) -> int:
    return int(reference.split()[0])


def render_chunk(html: str) -> Chunk:
    """Lay out one self-contained HTML document and return its PDF objects."""
    import pydyf
    from weasyprint import HTML

    drawn: dict[str, bytes] = {}
    document = HTML(string=html, url_fetcher=_fetcher(drawn)).render()
    chunk: Chunk | None = None

    def finish(_document: Any, pdf: Any) -> None:
        nonlocal chunk
        font = pydyf.Dictionary(
            {"Type": "/Font", "Subtype": "/Type1", "BaseFont": "/Helvetica", "Encoding": "/WinAnsiEncoding"}
        )
        pdf.add_object(font)
        # WeasyPrint leaves its graphics state as it is at the end of a page: save it before, restore
        # it in the slot, so the number is drawn in default coordinates.
        save = pydyf.Stream([b"q"])
        pdf.add_object(save)
        pages = [pdf.objects[_reference_number(reference)] for reference in pdf.page_references]
        resources: set[int] = set()
        slots = []
        for page in pages:
            resources.add(_reference_number(page["Resources"]))
            slot = pydyf.Object()
            pdf.add_object(slot)
            page["Contents"] = pydyf.Array([save.reference, page["Contents"], slot.reference])
            right = float(page["MediaBox"][2]) - PAGE_NUMBER_RIGHT_MARGIN
            slots.append(PageSlot(number=slot.number, right=right, baseline=PAGE_NUMBER_BASELINE))
        for number in resources:
            fonts = pdf.objects[number].get("Font")
            if isinstance(fonts, bytes):  # a reference to the fonts dictionary
                fonts = pdf.objects[_reference_number(fonts)]
            elif fonts is None:
                fonts = pdf.objects[number]["Font"] = pydyf.Dictionary()
            fonts[PAGE_NUMBER_FONT] = font.reference
        taken = {slot.number for slot in slots} | {pdf.catalog.number}
        chunk = Chunk(
            objects=[(local.number, local.data) for local in pdf.objects[1:] if local.number not in taken],
            pages_object=pdf.pages.number,
            highest=len(pdf.objects) - 1,
            slots=slots,
            qr_images=drawn,
        )
        # Everything is serialised: leave WeasyPrint nothing to write a second time.
        del pdf.objects[1:]
        pdf.info.clear()

    document.write_pdf(target=io.BytesIO(), finisher=finish)
    assert chunk is not None  # noqa: S101 - WeasyPrint always calls the finisher
    return chunk


def page_number_stream(slot: PageSlot, page_number: int) -> bytes:
    """The slot's object: restore WeasyPrint's state, draw the number right-aligned, in grey."""
    digits = b"%d" % page_number
    x = slot.right - len(digits) * HELVETICA_DIGIT * PAGE_NUMBER_SIZE
    content = b"Q q 0.333 g BT /%s %g Tf %.2f %.2f Td (%s) Tj ET Q" % (
        PAGE_NUMBER_FONT.encode(),
        PAGE_NUMBER_SIZE,
        x,
        slot.baseline,
        digits,
    )
    return b"<</Length %d>>\nstream\n%s\nendstream" % (len(content), content)


# ---------------------------------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------------------------------
def write_message(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    header = stream.read(_FRAME.size)
    if len(header) < _FRAME.size:
        return None
    (size,) = _FRAME.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # noqa: S301 - between this process and the worker it started


def _reason(error: Exception) -> str:
    first_line = str(error).strip().split("\n", 1)[0]
    return f"{type(error).__name__}: {first_line}"[:300]


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Lay out each chunk of HTML read from `requests`, in order, until it ends; reply with its objects.

    A thread keeps reading requests while a chunk is laid out, so the report process never blocks
    writing the next chunk while this one blocks writing its reply.
    """
    pending: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        while (message := read_message(requests)) is not None:
            pending.put(message)
        pending.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (html := pending.get()) is not None:
        try:
            reply: tuple[str, Any] = ("ok", render_chunk(html))
        except Exception as error:  # reported to the report process, which fails the report
            reply = ("error", _reason(error))
        write_message(replies, reply)


class InProcessLayout:
    """Chunks laid out in the calling process, one at a time (small reports: no worker to start)."""

    def __init__(self) -> None:
        self._pending: collections.deque[str] = collections.deque()

    @property
    def full(self) -> bool:
        return len(self._pending) >= 1

    def submit(self, html: str) -> None:
        self._pending.append(html)

    def take(self) -> Chunk:
        html = self._pending.popleft()
        try:
            return render_chunk(html)
        except Exception as error:
            raise ChunkFailed(_reason(error)) from error

    def __enter__(self) -> InProcessLayout:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._pending.clear()


@dataclass
class _Worker:
    number: int  # 1, 2, … in the order started, for error messages
    process: subprocess.Popen[bytes]
    log: IO[bytes]  # its stderr
    chunks: int = 0  # submitted to it so far


class WorkerLayout:
    """Chunks laid out by worker subprocesses, handed out in turn, taken back in the order submitted.

    At most `depth` chunks per worker are in flight, so memory stays flat whatever the report's size;
    and a worker that was given `chunks_per_worker` chunks is retired (it finishes them and exits)
    for a fresh one, since WeasyPrint's process grows a little with every document. Leaving the block
    normally lets the workers finish and exit; leaving it on an error (a failed chunk, a cancelled
    report) kills them.
    """

    def __init__(
        self, processes: int, *, depth: int = 2, chunks_per_worker: int = 40, cwd: str | None = None
    ) -> None:
        self.processes = processes
        self.depth = depth
        self.chunks_per_worker = chunks_per_worker
        self.cwd = cwd
        self.workers: list[_Worker] = []  # every one started, retired ones included
        self._current: list[_Worker] = []  # the one taking new chunks, for each of `processes` turns
        self._order: collections.deque[_Worker] = collections.deque()  # each chunk's, oldest first
        self._submitted = 0

    def _start(self) -> _Worker:
        environment = dict(os.environ)
        if self.cwd:
            path = environment.get("PYTHONPATH")
            environment["PYTHONPATH"] = self.cwd + (os.pathsep + path if path else "")
        log = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the worker runs
        process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed module
            [sys.executable, "-m", WORKER_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=self.cwd,
            env=environment,
        )
        worker = _Worker(number=len(self.workers) + 1, process=process, log=log)
        self.workers.append(worker)
        return worker

    @property
    def full(self) -> bool:
        return len(self._order) >= self.depth * self.processes

    def submit(self, html: str) -> None:
        turn = self._submitted % self.processes
        worker = self._current[turn]
        if worker.chunks >= self.chunks_per_worker:
            _close(worker.process.stdin)  # it lays out what it has, replies and exits
            worker = self._current[turn] = self._start()
        try:
            write_message(worker.process.stdin, html)  # a pipe, as started
        except OSError as error:  # a broken pipe: the worker is gone
            raise ChunkFailed(self._exited(worker)) from error
        worker.chunks += 1
        self._order.append(worker)
        self._submitted += 1

    def take(self) -> Chunk:
        worker = self._order.popleft()
        reply = read_message(worker.process.stdout)  # a pipe, as started
        if reply is None:
            raise ChunkFailed(self._exited(worker))
        status, value = reply
        if status != "ok":
            raise ChunkFailed(value)
        return value

    @staticmethod
    def _exited(worker: _Worker) -> str:
        """Why a worker stopped answering: its exit status and the end of what it wrote to stderr."""
        try:
            code = worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        worker.log.seek(0, os.SEEK_END)
        worker.log.seek(max(0, worker.log.tell() - 2000))
        tail = worker.log.read().decode("utf-8", "replace").strip().splitlines()
        return f"layout worker {worker.number} exited with status {code}" + (f": {tail[-1]}" if tail else "")

    def __enter__(self) -> WorkerLayout:
        self._current = [self._start() for _turn in range(self.processes)]
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        for worker in self.workers:
            if exc_type is not None:
                worker.process.kill()
            _close(worker.process.stdin)  # a worker left running finishes what it has and exits
        for worker in self.workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            _close(worker.process.stdout)
            worker.log.close()


def _close(pipe: IO[bytes] | None) -> None:
    if pipe is not None and not pipe.closed:
        with contextlib.suppress(OSError):  # what was still buffered for a worker that is gone
            pipe.close()


if __name__ == "__main__":
    # The replies travel on stdout: anything else a library prints there goes to stderr instead.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The replies' classes must be pickled under this module's name, not as `__main__`'s.
    importlib.import_module(WORKER_MODULE).serve(sys.stdin.buffer, replies)
