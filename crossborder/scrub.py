"""Anonymising records for export: no personal data, timestamps coarsened to the day, battery codes
replaced by a keyed hash.

`anonymise_record` walks nested dicts and lists and returns a new structure:

* Personal fields are removed by key. A key is split into words (snake_case, camelCase, kebab-case and
  spaces alike, case-insensitive) and removed when one word is in `PERSONAL_WORDS` or the whole key, or
  two neighbouring words joined, is in `PERSONAL_KEYS`: so ``vin``, ``VIN``, ``vehicleVin``,
  ``owner_id_number``, ``ownerPhone``, ``sim_iccid``, ``gpsLatitude`` and ``remarks`` all go.
* Datetimes, and strings holding an ISO 8601 timestamp, become their UTC day ("2026-03-04"); dates stay.
* Battery codes become `pseudonym(code)` ("anon:" and 64 hex characters, HMAC-SHA-256 under
  settings.PSEUDONYM_KEY, stable across exports). A string is a battery code when its key is one of
  `BATTERY_CODE_KEYS` (``battery``, ``battery_code``, ``parent``, ``original_code``...), or when
  `is_battery_code` says so (``code`` keys are replaced only then, since fault codes share the name).
  crossborder may not import passport, so the default test is structural (a GB/T 34014 code of 24 or a
  re-coded one of 19 characters, or a GS1 GTIN + serial); callers that can should pass passport's own
  parser. GB/T-shaped codes inside free text are replaced too.
* Any other string is passed through the release scanner and whatever it finds (VIN, plate, mobile or
  resident ID number, coordinates) is replaced by "[removed]"; a two-number list that looks like a
  coordinate pair is dropped. A scrubbed record therefore passes the scanner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache, partial
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.dateparse import parse_datetime

from crossborder import scanner

PSEUDONYM_PREFIX = "anon:"
REMOVED = "[removed]"

# One word of a key is enough to make the field personal.
PERSONAL_WORDS = frozenset(
    {
        # vehicle identifiers
        "vin",
        "plate",
        "plates",
        # owners, drivers, customers, contacts
        "owner",
        "owners",
        "driver",
        "customer",
        "contact",
        "phone",
        "mobile",
        "telephone",
        "tel",
        "msisdn",
        "email",
        "address",
        "postcode",
        "zipcode",
        # where the vehicle is or was
        "location",
        "locations",
        "latitude",
        "longitude",
        "lat",
        "lon",
        "lng",
        "gps",
        "geo",
        "geolocation",
        "geohash",
        "coordinates",
        "coords",
        "trajectory",
        "route",
        # SIM and modem identifiers
        "sim",
        "iccid",
        "imsi",
        "imei",
        # free text
        "note",
        "notes",
        "comment",
        "comments",
        "remark",
        "remarks",
    }
)
# Whole keys (words joined, lower case) that are personal though none of their words is.
PERSONAL_KEYS = frozenset(
    {
        "idcard",
        "idno",
        "idnumber",
        "residentid",
        "nationalid",
        "identitycard",
        "identitynumber",
        "licenseplate",
        "licenceplate",
        "numberplate",
        "plateno",
        "platenumber",
        "vehicleidentificationnumber",
        "cellphone",
        "zip",
        "postalcode",
        "fullname",
        "realname",
        "personname",
    }
)
BATTERY_CODE_KEYS = frozenset(
    {
        "battery",
        "batterycode",
        "batteries",
        "batterycodes",
        "parent",
        "parentcode",
        "originalcode",
        "newcode",
        "childcode",
        "childcodes",
        "children",
        "codes",
        "packcode",
        "modulecode",
        "cellcode",
    }
)

_GBT_BODY = r"[0-9A-Z]{3}[PMC][A-GZ][0-9A-Z]{2}(?:[0-9A-Z]{7}[0-9A-Z]{3}\d{7}|[0-9A-Z]{3}\d{7}R[PMC])"
_GBT = re.compile(r"^" + _GBT_BODY + r"$")
_GBT_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])" + _GBT_BODY + r"(?![0-9A-Za-z])")
_GS1 = re.compile(
    r"^(?:\(01\)|01)\d{14}(?:\(21\)|21)[!-~]{1,20}$|^(?:https?://[^/]+)?/01/\d{14}/21/[^/?#]{1,60}$"
)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def looks_like_battery_code(value: str) -> bool:
    """A GB/T 34014 code (24 characters, or 19 when re-coded) or a GS1 GTIN-14 + serial, by shape."""
    text = value.strip()
    return bool(_GBT.match(text) or _GS1.match(text))


@lru_cache(maxsize=4)
def _key(material: str) -> bytes:
    try:
        key = base64.b64decode(material, validate=True)
    except ValueError as error:
        raise ImproperlyConfigured("PSEUDONYM_KEY must be base64 (of 32 random bytes).") from error
    if len(key) < 32:
        raise ImproperlyConfigured("PSEUDONYM_KEY must hold at least 32 bytes.")
    return key


def pseudonym(code: str) -> str:
    """The stable keyed hash that stands for a battery code in anonymised exports ("anon:" + 64 hex)."""
    digest = hmac.new(_key(settings.PSEUDONYM_KEY), code.strip().encode("utf-8"), hashlib.sha256)
    return PSEUDONYM_PREFIX + digest.hexdigest()


def key_words(key: str) -> list[str]:
    """The words of a key, lower case: "ownerIDNumber" -> ["owner", "id", "number"]."""
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", str(key))
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", spaced)
    return [word for word in re.split(r"[^0-9A-Za-z]+", spaced.lower()) if word]


def is_personal_key(key: str) -> bool:
    words = key_words(key)
    if any(word in PERSONAL_WORDS for word in words):
        return True
    joined = "".join(words)
    pairs = {first + second for first, second in pairwise(words)}
    return joined in PERSONAL_KEYS or bool(pairs & PERSONAL_KEYS)


def _day(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def _string(value: str, *, key_is_code: bool, is_battery_code: Callable[[str], bool]) -> str:
    if key_is_code or is_battery_code(value):
        return pseudonym(value)
    if _TIMESTAMP.match(value):
        try:
            moment = parse_datetime(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError:
            moment = None
        if moment is not None:
            return _day(moment)
    text = _GBT_IN_TEXT.sub(lambda match: pseudonym(match.group(0)), value)
    return _redact(text) if scanner.scan_text(text) else text


def _redact(text: str) -> str:
    """Replace whatever the scanner would report by REMOVED, pattern by pattern."""
    for _kind, pattern, check in scanner.PATTERNS:
        text = pattern.sub(partial(_replacement, check=check), text)
    return text


def _replacement(match: re.Match[str], *, check: scanner.Check) -> str:
    return REMOVED if check(match) is not None else match.group(0)


def _is_coordinate_pair(value: list[Any]) -> bool:
    if len(value) != 2 or not all(isinstance(item, float) for item in value):
        return False
    precise = all(len(repr(abs(item)).partition(".")[2]) >= 4 for item in value)
    return precise and scanner.looks_like_coordinates(*value)


def _walk(record: Any, *, key_is_code: bool, is_battery_code: Callable[[str], bool]) -> Any:
    if isinstance(record, dict):
        cleaned: dict[Any, Any] = {}
        for key, value in record.items():
            if is_personal_key(str(key)):
                continue
            code_key = "".join(key_words(str(key))) in BATTERY_CODE_KEYS
            cleaned[key] = _walk(value, key_is_code=code_key, is_battery_code=is_battery_code)
        return cleaned
    if isinstance(record, list | tuple):
        if _is_coordinate_pair(list(record)):
            return None
        return [_walk(item, key_is_code=key_is_code, is_battery_code=is_battery_code) for item in record]
    if isinstance(record, datetime):
        return _day(record)
    if isinstance(record, date):
        return record.isoformat()
    if isinstance(record, str):
        return _string(record, key_is_code=key_is_code, is_battery_code=is_battery_code)
    return record


def anonymise_record(record: Any, *, is_battery_code: Callable[[str], bool] | None = None) -> Any:
    """A copy of `record` with no personal fields, day-coarse times and pseudonymous battery codes."""
    return _walk(record, key_is_code=False, is_battery_code=is_battery_code or looks_like_battery_code)
