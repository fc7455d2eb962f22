"""Battery identifiers: the one place that normalises, parses, validates and explains them.

Two schemes are understood:

* GB/T 34014-2017 traction battery codes, 24 characters::

      X12  M  C  PM  27KLPCL  X2M  2382320
      |    |  |  |   |        |    serial (7 digits, not all zero)
      |    |  |  |   |        production date: year, month, day letters
      |    |  |  |   traceability information (7)
      |    |  |  specification (2)
      |    |  battery type (A-G, Z)
      |    product type (P pack, M module, C cell)
      manufacturer code (3), allocated to one OEM

  and the 19-character re-coded second-life form (no traceability segment, the suffix ``R`` plus the
  product type), as given by the Catena-X TractionBatteryCode model.

* GS1: a GTIN-14 with a serial (AI 01 + AI 21), written as an element string ``01{gtin}21{serial}``
  (with or without parentheses) or as a GS1 Digital Link URI ``.../01/{gtin}/21/{serial}``.
  The canonical stored form is the element string without parentheses.

There is no check character in GB/T 34014: validity is structure, a real calendar date not in the
future, a serial that is not zero and a manufacturer code allocated to a registered OEM (checked
through a lookup the caller passes in, so parsing itself stays pure).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError

# ---------------------------------------------------------------------------------------------------
# Letter tables (data, not code). Public decoders agree up to day 17 and year 2026 and disagree after:
# some skip I only, others follow the VIN year table and also skip U. We follow the character class
# of the Catena-X TractionBatteryCode regex ([1-9A-GH-NPR-Y]: O and Q never appear) and, like every
# printed code we know of, never use I either (it reads as 1). That leaves exactly 31 symbols:
# 1-9, A-H, J-N, P, R-Y, so day letters cover 1..31 without gaps and U is 2027 (VIN-style decoders
# say V). The year symbols run 2001..2031; the cycle repeats after that and is not needed yet.
# ---------------------------------------------------------------------------------------------------
DATE_SYMBOLS = "123456789ABCDEFGHJKLMNPRSTUVWXY"
YEAR_LETTERS: dict[str, int] = {symbol: 2001 + index for index, symbol in enumerate(DATE_SYMBOLS)}
MONTH_LETTERS: dict[str, int] = {symbol: 1 + index for index, symbol in enumerate("123456789ABC")}
DAY_LETTERS: dict[str, int] = {symbol: 1 + index for index, symbol in enumerate(DATE_SYMBOLS)}

PRODUCT_TYPES: dict[str, Promise] = {
    "P": gettext_lazy("pack"),
    "M": gettext_lazy("module"),
    "C": gettext_lazy("cell"),
}

# GB/T 34014-2017 table 2 (battery type codes).
BATTERY_TYPES: dict[str, Promise] = {
    "A": gettext_lazy("nickel-metal hydride"),
    "B": gettext_lazy("lithium iron phosphate (LFP)"),
    "C": gettext_lazy("lithium manganese oxide (LMO)"),
    "D": gettext_lazy("lithium cobalt oxide (LCO)"),
    "E": gettext_lazy("ternary lithium (NMC/NCA)"),
    "F": gettext_lazy("supercapacitor"),
    "G": gettext_lazy("lithium titanate (LTO)"),
    "Z": gettext_lazy("other"),
}

GBT_LENGTH = 24
GBT_RECODED_LENGTH = 19
ALPHANUMERIC = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# GS1 General Specifications: AI (01) is N14 with a mod-10 check digit; AI (21) is X..20 over CSET 82.
GTIN_LENGTH = 14
GS1_SERIAL_MAX_LENGTH = 20
CSET_82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")

# Characters that survive copy-and-paste invisibly; removed at entry.
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u2060"))

_GS1_ELEMENT = re.compile(r"^(?:\(01\)|01)(\d{14})(?:\(21\)|21)(.+)$", re.S)

SCHEME_GBT = "gbt34014"
SCHEME_GBT_RECODED = "gbt34014-recoded"
SCHEME_GS1 = "gs1"

ManufacturerLookup = Callable[[str], "str | None"]


class CodeError(DomainError):
    """A battery identifier that is malformed; says which segment and which character."""

    status_code = 400
    default_code = "INVALID_CODE"

    def __init__(
        self,
        message: str | Promise,
        *,
        code: str,
        segment: str | None = None,
        position: int | None = None,
        field: str | None = "code",
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.segment = segment
        self.position = position

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = super().as_dict()
        body["segment"] = self.segment
        body["position"] = self.position
        return body


@dataclass(frozen=True)
class Segment:
    """One part of an identifier, with what it means and whether it is valid."""

    name: str
    label: str
    position: int  # 1-based index of its first character
    value: str
    meaning: str = ""
    valid: bool = True
    error: CodeError | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "position": self.position,
            "length": len(self.value),
            "value": self.value,
            "meaning": self.meaning,
            "valid": self.valid,
            "error": self.error.as_dict() if self.error else None,
        }


@dataclass
class CodeExplanation:
    """Every segment of an identifier explained, and every error found (the first one decides)."""

    raw: str
    normalised: str
    scheme: str | None = None
    segments: list[Segment] = field(default_factory=list)
    errors: list[CodeError] = field(default_factory=list)
    parsed: ParsedCode | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.raw,
            "code": self.normalised,
            "scheme": self.scheme,
            "valid": self.valid,
            "segments": [segment.as_dict() for segment in self.segments],
            "error": self.errors[0].as_dict() if self.errors else None,
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass(frozen=True)
class ParsedCode:
    """A valid identifier broken into its parts."""

    scheme: str
    code: str
    manufacturer: str = ""
    product_type: str = ""
    battery_type: str = ""
    spec: str = ""
    traceability: str = ""
    date_letters: str = ""
    production_date: date | None = None
    serial: str = ""
    gtin: str = ""
    gs1_serial: str = ""

    @property
    def is_gs1(self) -> bool:
        return self.scheme == SCHEME_GS1

    @property
    def digital_link_path(self) -> str:
        return digital_link_path(self.gtin, self.gs1_serial) if self.is_gs1 else ""


# ---------------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------------
def normalise(raw: str) -> str:
    """The identifier as typed or scanned, made comparable: NFKC, no zero-width characters, trimmed.

    GB/T codes are also upper-cased; GS1 serials are case-sensitive and are left as they are.
    """
    text = unicodedata.normalize("NFKC", raw or "").translate(ZERO_WIDTH).strip()
    if _looks_like_gs1(text):
        return text
    return text.upper()


def _looks_like_gs1(text: str) -> bool:
    return bool(_GS1_ELEMENT.match(text)) or "/01/" in text


def default_today() -> date:
    """The latest calendar date anywhere on Earth (UTC+14), so no local 'today' reads as the future."""
    return (timezone.now() + timedelta(hours=14)).date()


# ---------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------
def explain_code(
    raw: str, *, today: date | None = None, manufacturer_lookup: ManufacturerLookup | None = None
) -> CodeExplanation:
    """Explain an identifier segment by segment, collecting every error instead of stopping at one."""
    text = normalise(raw)
    explanation = CodeExplanation(raw=raw, normalised=text)
    today = today or default_today()
    if _looks_like_gs1(text):
        _explain_gs1(explanation, text)
    else:
        _explain_gbt(explanation, text, today=today, manufacturer_lookup=manufacturer_lookup)
    return explanation


def parse_code(
    raw: str, *, today: date | None = None, manufacturer_lookup: ManufacturerLookup | None = None
) -> ParsedCode:
    """Parse and validate an identifier; the first problem found is raised as a `CodeError`."""
    explanation = explain_code(raw, today=today, manufacturer_lookup=manufacturer_lookup)
    if explanation.errors:
        raise explanation.errors[0]
    assert explanation.parsed is not None  # noqa: S101 - no errors means it was parsed
    return explanation.parsed


# ---------------------------------------------------------------------------------------------------
# GB/T 34014
# ---------------------------------------------------------------------------------------------------
def _segment_labels() -> dict[str, str]:
    return {
        "manufacturer": _("manufacturer code"),
        "product_type": _("product type"),
        "battery_type": _("battery type"),
        "spec": _("specification code"),
        "traceability": _("traceability code"),
        "year": _("production year"),
        "month": _("production month"),
        "day": _("production day"),
        "serial": _("serial number"),
        "recoded_marker": _("re-coded marker"),
        "recoded_product_type": _("re-coded product type"),
    }


# (segment, start index, length) for each layout.
GBT_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("manufacturer", 0, 3),
    ("product_type", 3, 1),
    ("battery_type", 4, 1),
    ("spec", 5, 2),
    ("traceability", 7, 7),
    ("year", 14, 1),
    ("month", 15, 1),
    ("day", 16, 1),
    ("serial", 17, 7),
)
GBT_RECODED_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("manufacturer", 0, 3),
    ("product_type", 3, 1),
    ("battery_type", 4, 1),
    ("spec", 5, 2),
    ("year", 7, 1),
    ("month", 8, 1),
    ("day", 9, 1),
    ("serial", 10, 7),
    ("recoded_marker", 17, 1),
    ("recoded_product_type", 18, 1),
)


def _error(code: str, message: str, *, segment: str | None, position: int | None) -> CodeError:
    return CodeError(message, code=code, segment=segment, position=position)


def _explain_gbt(
    explanation: CodeExplanation, text: str, *, today: date, manufacturer_lookup: ManufacturerLookup | None
) -> None:
    labels = _segment_labels()
    explanation.scheme = SCHEME_GBT
    if len(text) == GBT_RECODED_LENGTH and text[17:18] == "R":
        explanation.scheme = SCHEME_GBT_RECODED
        layout = GBT_RECODED_LAYOUT
    elif len(text) == GBT_LENGTH:
        layout = GBT_LAYOUT
    else:
        explanation.errors.append(
            _error(
                "CODE_LENGTH",
                _(
                    "A GB/T 34014 code has 24 characters (19 for a re-coded second-life unit); "
                    "this one has %(length)d."
                )
                % {"length": len(text)},
                segment=None,
                position=None,
            )
        )
        return

    values = {name: text[start : start + length] for name, start, length in layout}
    positions = {name: start + 1 for name, start, _length in layout}
    problems: dict[str, CodeError] = {}
    meanings: dict[str, str] = {}

    def fail(segment: str, code: str, message: str, offset: int = 0) -> None:
        if segment not in problems:
            problems[segment] = _error(code, message, segment=segment, position=positions[segment] + offset)

    for index, character in enumerate(text):
        if character not in ALPHANUMERIC:
            segment = next(name for name, start, length in layout if start <= index < start + length)
            fail(
                segment,
                "CODE_CHARACTERS",
                _(
                    "Character %(position)d (%(segment)s) is %(character)r; only the letters A-Z and "
                    "digits 0-9 are allowed."
                )
                % {"position": index + 1, "segment": labels[segment], "character": character},
                offset=index - (positions[segment] - 1),
            )

    product = values["product_type"]
    if "product_type" not in problems:
        if product in PRODUCT_TYPES:
            meanings["product_type"] = str(PRODUCT_TYPES[product])
        else:
            fail(
                "product_type",
                "PRODUCT_TYPE",
                _(
                    "Character %(position)d (product type) is %(value)r; "
                    "it must be P (pack), M (module) or C (cell)."
                )
                % {"position": positions["product_type"], "value": product},
            )
    battery_type = values["battery_type"]
    if "battery_type" not in problems:
        if battery_type in BATTERY_TYPES:
            meanings["battery_type"] = str(BATTERY_TYPES[battery_type])
        else:
            fail(
                "battery_type",
                "BATTERY_TYPE",
                _("Character %(position)d (battery type) is %(value)r; it must be one of A-G or Z.")
                % {"position": positions["battery_type"], "value": battery_type},
            )

    date_parts: dict[str, int] = {}
    for segment, table, allowed in (
        ("year", YEAR_LETTERS, "1-9, A-H, J-N, P, R-Y"),
        ("month", MONTH_LETTERS, "1-9, A-C"),
        ("day", DAY_LETTERS, "1-9, A-H, J-N, P, R-Y"),
    ):
        if segment in problems:
            continue
        letter = values[segment]
        if letter in table:
            date_parts[segment] = table[letter]
            meanings[segment] = str(table[letter])
        else:
            fail(
                segment,
                "DATE_LETTER",
                _(
                    "Character %(position)d (%(segment)s) is %(value)r, "
                    "which is not a date letter (%(allowed)s)."
                )
                % {
                    "position": positions[segment],
                    "segment": labels[segment],
                    "value": letter,
                    "allowed": allowed,
                },
            )
    production_date: date | None = None
    if len(date_parts) == 3:
        try:
            production_date = date(date_parts["year"], date_parts["month"], date_parts["day"])
        except ValueError:
            fail(
                "day",
                "DATE_INVALID",
                _(
                    "Characters %(first)d-%(last)d give the production date %(year)d-%(month)02d-%(day)02d, "
                    "which is not a real calendar date."
                )
                % {
                    "first": positions["year"],
                    "last": positions["day"],
                    "year": date_parts["year"],
                    "month": date_parts["month"],
                    "day": date_parts["day"],
                },
            )
        else:
            if production_date > today:
                fail(
                    "year",
                    "DATE_IN_FUTURE",
                    _(
                        "Characters %(first)d-%(last)d give the production date %(date)s, which is in the "
                        "future."
                    )
                    % {
                        "first": positions["year"],
                        "last": positions["day"],
                        "date": production_date.isoformat(),
                    },
                )

    serial = values["serial"]
    if "serial" not in problems:
        offending = next((i for i, c in enumerate(serial) if not c.isdigit()), None)
        if offending is not None:
            fail(
                "serial",
                "SERIAL_FORMAT",
                _("Character %(position)d (serial number) is %(value)r; the serial number is 7 digits.")
                % {"position": positions["serial"] + offending, "value": serial[offending]},
                offset=offending,
            )
        elif set(serial) == {"0"}:
            fail(
                "serial",
                "SERIAL_ZERO",
                _("Characters %(first)d-%(last)d (serial number) are all zero; serial numbers start at 1.")
                % {"first": positions["serial"], "last": positions["serial"] + 6},
            )

    if layout is GBT_RECODED_LAYOUT and "recoded_product_type" not in problems:
        suffix = values["recoded_product_type"]
        if suffix in PRODUCT_TYPES:
            meanings["recoded_product_type"] = str(PRODUCT_TYPES[suffix])
        else:
            fail(
                "recoded_product_type",
                "PRODUCT_TYPE",
                _("Character %(position)d (re-coded product type) is %(value)r; it must be P, M or C.")
                % {"position": positions["recoded_product_type"], "value": suffix},
            )
        meanings["recoded_marker"] = _("re-coded for second-life use")

    manufacturer = values["manufacturer"]
    if "manufacturer" not in problems and manufacturer_lookup is not None:
        owner = manufacturer_lookup(manufacturer)
        if owner:
            meanings["manufacturer"] = owner
        else:
            fail(
                "manufacturer",
                "MANUFACTURER_UNKNOWN",
                _(
                    "Characters 1-3 (manufacturer code) are %(value)r, which is not allocated to any "
                    "registered manufacturer."
                )
                % {"value": manufacturer},
            )

    for name, start, _length in layout:
        error = problems.get(name)
        explanation.segments.append(
            Segment(
                name=name,
                label=labels[name],
                position=start + 1,
                value=values[name],
                meaning=meanings.get(name, ""),
                valid=error is None,
                error=error,
            )
        )
    explanation.errors = sorted(problems.values(), key=lambda error: error.position or 0)
    if not explanation.errors:
        explanation.parsed = ParsedCode(
            scheme=explanation.scheme,
            code=text,
            manufacturer=manufacturer,
            product_type=product,
            battery_type=battery_type,
            spec=values["spec"],
            traceability=values.get("traceability", ""),
            date_letters=values["year"] + values["month"] + values["day"],
            production_date=production_date,
            serial=serial,
        )


# ---------------------------------------------------------------------------------------------------
# GS1
# ---------------------------------------------------------------------------------------------------
def gtin_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for the digits before it (weights 3, 1, 3... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def gtin_is_valid(gtin: str) -> bool:
    return len(gtin) == GTIN_LENGTH and gtin.isdigit() and gtin_check_digit(gtin[:-1]) == int(gtin[-1])


def digital_link_path(gtin: str, serial: str) -> str:
    """The path of a GS1 Digital Link URI for a serialised item: /01/{gtin}/21/{serial}."""
    return f"/01/{gtin}/21/{quote(serial, safe='')}"


def digital_link_uri(base_url: str, gtin: str, serial: str) -> str:
    return base_url.rstrip("/") + digital_link_path(gtin, serial)


def gs1_code(gtin: str, serial: str) -> str:
    """The canonical stored identifier of a GS1 item: the element string without parentheses."""
    return f"01{gtin}21{serial}"


def split_gs1_code(code: str) -> tuple[str, str] | None:
    """(gtin, serial) of a canonical GS1 identifier, or None for a GB/T code."""
    if len(code) > 18 and code.startswith("01") and code[2:16].isdigit() and code[16:18] == "21":
        return code[2:16], code[18:]
    return None


def _explain_gs1(explanation: CodeExplanation, text: str) -> None:
    explanation.scheme = SCHEME_GS1
    gtin, serial, problem = _split_gs1(text)
    if problem is not None:
        explanation.errors.append(problem)
        return
    errors: list[CodeError] = []
    gtin_error: CodeError | None = None
    if len(gtin) in (8, 12, 13) and gtin.isdigit():
        gtin = gtin.zfill(GTIN_LENGTH)  # GTIN-8/12/13 are carried as 14 digits with leading zeros
    if len(gtin) != GTIN_LENGTH or not gtin.isdigit():
        gtin_error = _error(
            "GTIN_FORMAT",
            _("The GTIN (AI 01) must be 14 digits; %(value)r is not.") % {"value": gtin},
            segment="gtin",
            position=None,
        )
    elif not gtin_is_valid(gtin):
        gtin_error = _error(
            "GTIN_CHECK_DIGIT",
            _("The GTIN %(value)s has check digit %(given)s; it should be %(expected)d.")
            % {"value": gtin, "given": gtin[-1], "expected": gtin_check_digit(gtin[:-1])},
            segment="gtin",
            position=14,
        )
    serial_error: CodeError | None = None
    if not 1 <= len(serial) <= GS1_SERIAL_MAX_LENGTH:
        serial_error = _error(
            "GS1_SERIAL_LENGTH",
            _("The serial number (AI 21) must have 1 to 20 characters; it has %(length)d.")
            % {"length": len(serial)},
            segment="gs1_serial",
            position=None,
        )
    else:
        offending = next((i for i, c in enumerate(serial) if c not in CSET_82), None)
        if offending is not None:
            serial_error = _error(
                "GS1_SERIAL_CHARACTERS",
                _(
                    "Character %(position)d of the serial number (AI 21) is %(character)r, which GS1 does "
                    "not allow (character set 82)."
                )
                % {"position": offending + 1, "character": serial[offending]},
                segment="gs1_serial",
                position=offending + 1,
            )
    errors = [error for error in (gtin_error, serial_error) if error is not None]
    explanation.segments = [
        Segment(
            name="gtin",
            label=_("GTIN (AI 01)"),
            position=1,
            value=gtin,
            meaning=_("company prefix and item reference, with check digit"),
            valid=gtin_error is None,
            error=gtin_error,
        ),
        Segment(
            name="gs1_serial",
            label=_("serial number (AI 21)"),
            position=1,
            value=serial,
            meaning=_("serial number of this unit"),
            valid=serial_error is None,
            error=serial_error,
        ),
    ]
    explanation.errors = errors
    if not errors:
        code = gs1_code(gtin, serial)
        explanation.normalised = code
        explanation.parsed = ParsedCode(scheme=SCHEME_GS1, code=code, gtin=gtin, gs1_serial=serial)


def _split_gs1(text: str) -> tuple[str, str, CodeError | None]:
    """Split an element string or Digital Link URI into GTIN and serial (still unvalidated)."""
    match = _GS1_ELEMENT.match(text)
    if match:
        return match.group(1), match.group(2), None
    path = urlsplit(text).path if "://" in text else text.split("?", 1)[0].split("#", 1)[0]
    parts = [part for part in path.split("/") if part != ""]
    try:
        start = parts.index("01")
    except ValueError:  # pragma: no cover - _looks_like_gs1 guarantees "/01/"
        start = -1
    keys = parts[start:]
    if start < 0 or len(keys) != 4 or keys[2] != "21":
        return (
            "",
            "",
            _error(
                "DIGITAL_LINK_PATH",
                _("A GS1 Digital Link for a battery has the path /01/{gtin}/21/{serial}; this one does not."),
                segment=None,
                position=None,
            ),
        )
    return keys[1], unquote(keys[3]), None


def parse_digital_link(uri: str) -> ParsedCode:
    """Parse a GS1 Digital Link URI (or its path) into a GTIN and serial."""
    return parse_code(uri if "/01/" in uri else "/" + uri.lstrip("/"))
