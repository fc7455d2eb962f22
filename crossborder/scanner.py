"""The release scanner: a last look for personal identifiers in an export before it leaves.

Kinds found (each with its own check, so that hashes, pseudonyms and measurements do not trip it):

* ``vin``: 17 characters of ``[A-HJ-NPR-Z0-9]`` (upper case, as ISO 3779 prints them), with at least
  one letter and one digit and a valid check character in position 9 (weights 8 7 6 5 4 3 2 10 0 9 8 7
  6 5 4 3 2, remainder 10 written X), standing alone (no letter or digit either side).
* ``cn_plate``: a province abbreviation (also as a JSON ``\\uXXXX`` escape), a letter, an optional
  separator (``·``, ``•``, space) and 5 characters with at least 3 digits, or a 6-character new-energy
  serial (``D``/``F`` then a character and 4 digits, or 5 digits then ``D``/``F``).
* ``cn_mobile``: ``1[3-9]`` and 9 more digits (optionally grouped 3-4-4 by spaces or hyphens), not
  inside a longer run of letters or digits; ``+86``/``0086`` in front is recognised.
* ``cn_resident_id``: 18 characters, a real birth date (1900 to today) in positions 7-14 and a valid
  GB 11643 ISO 7064 MOD 11-2 check character.
* ``coordinates``: a latitude, longitude pair of decimals with at least 4 decimal places each, in range
  either way round (GeoJSON writes longitude first), as text (``31.2304, 121.4737``, also with N/E),
  a JSON array, or an object with lat/latitude and lon/lng/longitude keys side by side. Pairs of two
  values both under 1 in magnitude are not counted (fractions, not places).

Alphanumeric runs are matched whole, so a 64-hex pseudonym or a SHA-256 never contains a hit.

Files are read as UTF-8 (or UTF-16 with a byte-order mark) in chunks with an overlap, so memory stays
bounded whatever the size. Content that cannot be read as text (invalid UTF-8, NUL bytes) raises
`ScanError`: `release` then blocks the export (fail closed). PDFs and other binary formats cannot be
scanned this way and are therefore always blocked by `release`.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organisation
from crossborder import gate
from crossborder.errors import ExportBlocked
from crossborder.models import ExportLogEntry, TransferApproval

KINDS = ("vin", "cn_plate", "cn_mobile", "cn_resident_id", "coordinates")
KIND_LABELS = {
    "vin": gettext_lazy("VIN"),
    "cn_plate": gettext_lazy("licence plate"),
    "cn_mobile": gettext_lazy("mobile number"),
    "cn_resident_id": gettext_lazy("resident ID number"),
    "coordinates": gettext_lazy("coordinates"),
}
CHUNK_BYTES = 256 * 1024
# Characters held back at the end of a chunk until more text arrives: longer than any match plus its
# look-ahead, so a match is never judged on a truncated tail.
MARGIN = 256
# Characters kept before the next chunk's first new character, for the look-behind checks.
CONTEXT = 16
LOCATIONS_KEPT = 50


class ScanError(Exception):
    """The content cannot be scanned (not text, unreadable); the caller must not release it."""


@dataclass(frozen=True)
class Hit:
    """One identifier found: its kind, 1-based line and column, and a masked form (never the value)."""

    kind: str
    line: int
    column: int
    masked: str

    @property
    def location(self) -> str:
        return f"{self.line}:{self.column}"


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------
_VIN_VALUES = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def vin_check_digit_valid(vin: str) -> bool:
    """ISO 3779 / GB 16735 check character (position 9) of a 17-character VIN."""
    vin = vin.upper()
    if len(vin) != 17 or any(char not in _VIN_VALUES for char in vin):
        return False
    total = sum(_VIN_VALUES[char] * weight for char, weight in zip(vin, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return vin[8] == ("X" if remainder == 10 else str(remainder))


def resident_id_valid(number: str, *, today: date | None = None) -> bool:
    """GB 11643-1999: a real birth date not in the future and the MOD 11-2 check character."""
    number = number.upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > (today or timezone.now().date()):
        return False
    total = sum(int(char) * weight for char, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    return number[17] == "10X98765432"[total % 11]


def looks_like_coordinates(first: float, second: float) -> bool:
    """A latitude/longitude pair in either order (both under 1 in magnitude does not count)."""
    if abs(first) < 1 and abs(second) < 1:
        return False
    return (abs(first) <= 90 and abs(second) <= 180) or (abs(first) <= 180 and abs(second) <= 90)


def _mask(value: str, keep_start: int = 3, keep_end: int = 1) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


# ---------------------------------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------------------------------
# Each pattern starts with a character class, so the regular expression engine skips ahead quickly; the
# "not after a letter or digit" check therefore comes after the first character: (?<![0-9A-Za-z].).
_ALNUM_AFTER = r"(?![0-9A-Za-z])"
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_SEPARATOR = r"(?:[·•\u00b7 ]|\\u00[bB]7|\\u2022)?"
_PLATE_LETTERS = "A-HJ-NP-Z"
_NUMBER = r"-?\d{1,3}\.\d{4,15}"
_SPACE = r"[ \t]{0,4}"

_VIN = re.compile(r"[A-HJ-NPR-Z0-9](?<![0-9A-Za-z].)[A-HJ-NPR-Z0-9]{16}" + _ALNUM_AFTER)
_PLATE = re.compile(
    rf"(?:[{PROVINCES}]|\\u([0-9a-fA-F]{{4}}))[{_PLATE_LETTERS}]"
    + _PLATE_SEPARATOR
    + rf"([{_PLATE_LETTERS}0-9]{{5,6}})"
    + _ALNUM_AFTER
)
_MOBILE = re.compile(
    r"(?:\+86[ -]?1|0(?<![0-9A-Za-z]0)0861|1(?<![0-9A-Za-z]1))[3-9]\d([ -]?)\d{4}\1\d{4}" + _ALNUM_AFTER
)
_RESIDENT_ID = re.compile(r"[1-9](?<![0-9A-Za-z].)\d{16}[0-9Xx]" + _ALNUM_AFTER)
_PAIR = re.compile(
    r"(?<![0-9A-Za-z.\-])(" + _NUMBER + r")[NSns]?" + _SPACE + r"," + _SPACE + r"(" + _NUMBER + r")[EWew]?"
    r"(?![0-9.])"
)
_LAT_KEY = r"[\"']?(?:lat|latitude)[\"']?"
_LON_KEY = r"[\"']?(?:lon|lng|long|longitude)[\"']?"
_KEYED_VALUE = _SPACE + r"[:=]" + _SPACE + r"[\"']?(" + _NUMBER + r")[\"']?"
_OBJECT_PAIR = re.compile(
    r"(?<![A-Za-z_])(?:"
    + _LAT_KEY + _KEYED_VALUE + r"\s{0,40}[,;]\s{0,40}" + _LON_KEY + _KEYED_VALUE
    + r"|"
    + _LON_KEY + _KEYED_VALUE + r"\s{0,40}[,;]\s{0,40}" + _LAT_KEY + _KEYED_VALUE
    + r")(?![0-9.])",
    re.IGNORECASE,
)  # fmt: skip
# Both coordinate forms need a number with 4 decimals: a text without one skips them (much faster).
_PRECISE_NUMBER = re.compile(r"\d\.\d{4}")


def _check_vin(match: re.Match[str]) -> str | None:
    value = match.group(0)
    if not any(char.isalpha() for char in value) or not any(char.isdigit() for char in value):
        return None
    return _mask(value) if vin_check_digit_valid(value) else None


def _check_plate(match: re.Match[str]) -> str | None:
    escaped, serial = match.group(1), match.group(2)
    if escaped is not None and chr(int(escaped, 16)) not in PROVINCES:
        return None
    if len(serial) == 5:
        valid = sum(char.isdigit() for char in serial) >= 3
    else:
        valid = bool(re.fullmatch(r"[DF][A-HJ-NP-Z0-9]\d{4}|\d{5}[DF]", serial))
    return "".join(["**", "*" * len(serial[:-1]), serial[-1]]) if valid else None


def _check_mobile(match: re.Match[str]) -> str | None:
    digits = re.sub(r"\D", "", match.group(0))[-11:]  # without +86 or 0086
    return _mask(digits)


def _check_resident_id(match: re.Match[str]) -> str | None:
    value = match.group(0)
    return _mask(value, 3, 1) if resident_id_valid(value) else None


def _check_pair(match: re.Match[str]) -> str | None:
    numbers = [float(value) for value in match.groups() if value is not None]
    if len(numbers) != 2 or not looks_like_coordinates(*numbers):
        return None
    return ", ".join(f"{int(number)}.****" for number in numbers)


Check = Callable[[re.Match[str]], "str | None"]
PATTERNS: tuple[tuple[str, re.Pattern[str], Check], ...] = (
    ("vin", _VIN, _check_vin),
    ("cn_plate", _PLATE, _check_plate),
    ("cn_mobile", _MOBILE, _check_mobile),
    ("cn_resident_id", _RESIDENT_ID, _check_resident_id),
    ("coordinates", _PAIR, _check_pair),
    ("coordinates", _OBJECT_PAIR, _check_pair),
)
# A pattern whose prefilter finds nothing in the text cannot match there and is skipped.
_PREFILTERS: tuple[re.Pattern[str] | None, ...] = (None, None, None, None, _PRECISE_NUMBER, _PRECISE_NUMBER)


# ---------------------------------------------------------------------------------------------------
# Streaming scan
# ---------------------------------------------------------------------------------------------------
@dataclass
class ScanResult:
    """Every hit counted by kind; the first `max_hits` kept with their locations."""

    hits: list[Hit] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    characters: int = 0
    bytes: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict[str, Any]:
        """What the export log keeps: counts and locations, never values."""
        return {
            "bytes": self.bytes,
            "hits": self.total,
            "kinds": dict(sorted(self.counts.items())),
            "locations": [
                {"kind": hit.kind, "line": hit.line, "column": hit.column}
                for hit in self.hits[:LOCATIONS_KEPT]
            ],
            "truncated": self.total > LOCATIONS_KEPT,
        }


def _scan_chunks(chunks: Iterable[str], *, max_hits: int | None) -> ScanResult:
    result = ScanResult()
    buffer = ""
    base = 0  # absolute offset of buffer[0]
    # Per pattern, where its search resumes: after its last match, as one search over the whole text.
    resume = [0] * len(PATTERNS)
    done = 0  # absolute offset before which every match start has been judged
    counted = 0  # absolute offset up to which newlines are counted
    line, line_start = 1, 0

    def advance(to: int) -> None:
        nonlocal counted, line, line_start
        if to <= counted:
            return
        newlines = buffer.count("\n", counted - base, to - base)
        if newlines:
            line += newlines
            line_start = base + buffer.rfind("\n", counted - base, to - base) + 1
        counted = to

    pending = iter(chunks)
    chunk = next(pending, None)
    while chunk is not None:
        following = next(pending, None)
        final = following is None
        if "\x00" in chunk:
            raise ScanError(_("The file holds binary content (NUL bytes) and cannot be scanned as text."))
        result.characters += len(chunk)
        buffer += chunk
        limit = len(buffer) if final else max(done - base, len(buffer) - MARGIN)
        found: list[tuple[int, str, str]] = []
        possible = {prefilter: bool(prefilter.search(buffer)) for prefilter in set(_PREFILTERS) if prefilter}
        for index, (kind, pattern, check) in enumerate(PATTERNS):
            prefilter = _PREFILTERS[index]
            if prefilter is not None and not possible[prefilter]:
                resume[index] = max(resume[index], base + limit)
                continue
            for match in pattern.finditer(buffer, resume[index] - base):
                if match.start() >= limit:
                    break
                resume[index] = base + match.end()
                masked = check(match)
                if masked is not None:
                    found.append((base + match.start(), kind, masked))
            resume[index] = max(resume[index], base + limit)
        for start, kind, masked in sorted(set(found)):
            advance(start)
            result.counts[kind] += 1
            if max_hits is None or len(result.hits) < max_hits:
                result.hits.append(Hit(kind=kind, line=line, column=start - line_start + 1, masked=masked))
        done = base + limit
        keep_from = max(0, limit - CONTEXT)
        advance(base + keep_from)
        buffer = buffer[keep_from:]
        base += keep_from
        chunk = following
    return result


def scan_text(text: str) -> list[Hit]:
    """Every identifier in `text`, in order of position."""
    return _scan_chunks(
        (text[start : start + CHUNK_BYTES] for start in range(0, max(len(text), 1), CHUNK_BYTES)),
        max_hits=None,
    ).hits


def _decoded_chunks(stream: IO[bytes], counter: list[int]) -> Iterator[str]:
    head = stream.read(CHUNK_BYTES)
    if isinstance(head, str):
        raise ScanError(_("Open the file in binary mode to scan it."))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        decoder = codecs.getincrementaldecoder("utf-16")(errors="strict")
    else:
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    data = head
    try:
        while data:
            counter[0] += len(data)
            text = decoder.decode(data)
            if text:
                yield text
            data = stream.read(CHUNK_BYTES)
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise ScanError(
            _("The file is not UTF-8 text (byte %(position)d); it cannot be scanned.")
            % {"position": counter[0] - len(data) + error.start}
        ) from error
    if tail:
        yield tail


def scan_source(source: str | Path | IO[bytes], *, max_hits: int | None = 1000) -> ScanResult:
    """Scan a file (a path or a binary file object) in chunks; raises ScanError when it is not text."""
    counter = [0]
    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as stream:
                result = _scan_chunks(_decoded_chunks(stream, counter), max_hits=max_hits)
        else:
            result = _scan_chunks(_decoded_chunks(source, counter), max_hits=max_hits)
    except OSError as error:
        raise ScanError(
            _("The file cannot be read: %(error)s") % {"error": error.strerror or error}
        ) from error
    result.bytes = counter[0]
    return result


def scan_file(path_or_binary_file: str | Path | IO[bytes], *, max_hits: int | None = 1000) -> list[Hit]:
    """The identifiers in a file, read in chunks (the first `max_hits` of them)."""
    return scan_source(path_or_binary_file, max_hits=max_hits).hits


# ---------------------------------------------------------------------------------------------------
# Release
# ---------------------------------------------------------------------------------------------------
def describe_hits(counts: Counter[str] | dict[str, int], hits: list[Hit], *, limit: int = 10) -> str:
    """ "2 VIN, 1 mobile number at line 3 column 14, ..." — kinds, counts and locations, no values."""
    kinds = ", ".join(f"{count} {KIND_LABELS.get(kind, kind)}" for kind, count in sorted(counts.items()))
    places = ", ".join(
        _("%(kind)s at line %(line)d column %(column)d")
        % {"kind": KIND_LABELS.get(hit.kind, hit.kind), "line": hit.line, "column": hit.column}
        for hit in hits[:limit]
    )
    more = "" if len(hits) <= limit else _(" and %(count)d more") % {"count": sum(counts.values()) - limit}
    return f"{kinds} ({places}{more})"


def release(
    *,
    path: str | Path | IO[bytes],
    user: Any,
    recipient: Organisation | None,
    data_jurisdiction: str,
    channel: str,
    subject: str,
    purpose: str = "",
    data_classes: Iterable[str] = ("telemetry",),
    holder: Organisation | None = None,
    approval: TransferApproval | None = None,
) -> ExportLogEntry:
    """Scan an export before it leaves: any hit, or a file that cannot be scanned, blocks it.

    A block writes an export log row (outcome `blocked`, with the hit summary), alerts the platform
    administrators and the administrators of the exporting organisation (and of `holder`), and raises
    `ExportBlocked`. A clean file is logged (outcome `allowed` with `approval`, else `not_required`) and
    its log row returned. Call outside atomic blocks (see crossborder.gate).
    """
    gate.require_outside_transactions()
    scan: dict[str, Any]
    try:
        result = scan_source(path)
    except ScanError as error:
        code, message, scan = "EXPORT_SCAN_FAILED", str(error), {"error": str(error)[:300]}
    except Exception as error:
        code = "EXPORT_SCAN_FAILED"
        message = _("The scanner failed (%(error)s); the export is blocked.") % {
            "error": type(error).__name__
        }
        scan = {"error": type(error).__name__}
    else:
        if not result.total:
            return gate.log_export(
                user=user,
                recipient=recipient,
                data_classes=data_classes,
                data_jurisdiction=data_jurisdiction,
                channel=channel,
                subject=subject,
                purpose=purpose,
                outcome=ExportLogEntry.Outcome.ALLOWED if approval else ExportLogEntry.Outcome.NOT_REQUIRED,
                approval=approval,
                scan=result.summary(),
                holder=holder,
            )
        code = "EXPORT_BLOCKED_IDENTIFIER"
        message = _(
            "The export was blocked: the scan found %(found)s. Nothing was released; remove the "
            "identifiers (anonymise the records) and export again."
        ) % {"found": describe_hits(result.counts, result.hits)}
        scan = result.summary()
    entry = gate.log_export(
        user=user,
        recipient=recipient,
        data_classes=data_classes,
        data_jurisdiction=data_jurisdiction,
        channel=channel,
        subject=subject,
        purpose=purpose,
        outcome=ExportLogEntry.Outcome.BLOCKED,
        approval=approval,
        scan=scan,
        holder=holder,
        code=code,
        message=message,
    )
    actor = getattr(user, "organisation", None) if getattr(user, "is_authenticated", False) else None
    gate.alert_holder_and_platform(
        entry=entry,
        subject=_("Export blocked before release: %(subject)s") % {"subject": entry.subject[:120]},
        body=message,
        dedup_key=f"crossborder-blocked:{entry.pk}",
        also=[actor] if actor is not None else [],
    )
    raise ExportBlocked(message, code=code, entry=entry)
