"""Strict validation of the signed BMS snapshot envelope of DESIGN.md ("Signed BMS snapshots").

The raw bytes go through `core.canonical.parse_json_strict` first (size and depth limits before any
parsing; duplicate keys, NaN, integers beyond 2**53 and lone surrogates refused). `validate_envelope`
then checks every level of the parsed document for types, ranges and unknown fields and returns a
`SnapshotEnvelope`: the payload dict exactly as received (what the signature covers, once
canonicalised) plus its typed fields. Signature verification, key validity, the battery lookup and
replay detection need the database and happen in the ingest service, after this.

Every refusal is a `SnapshotRejected` with a stable code and the dotted path of the field:

=========================  ===============================================================================
code                       meaning
=========================  ===============================================================================
SCHEMA_TYPE                wrong JSON type (booleans never count as numbers; null is never accepted:
                           an optional field is left out instead)
SCHEMA_MISSING             a required field is absent
SCHEMA_UNKNOWN_FIELD       a field (or alarm name) the format does not define
SCHEMA_RANGE               a number or a timestamp outside its allowed range
SCHEMA_LENGTH              a string or a list too short or too long
SCHEMA_FORMAT              a string of the wrong shape (RFC 3339 timestamp, identifier characters)
SCHEMA_CHOICE              a value outside a fixed set (thermal event kind)
SCHEMA_INCONSISTENT        fields that contradict each other (minimum above maximum, an event that ends
                           before it starts, cell extremes that are not those of the cell list, a
                           recalibration reason without the recalibration marker)
UNSUPPORTED_FORMAT         `format` is not "voltrace.bms-snapshot/1"
SIGNATURE_MALFORMED        unsupported algorithm, key id not 64 lowercase hex digits, signature value not
                           canonical base64 or of the wrong length for its algorithm
TOO_LARGE, TOO_DEEP,       passed through from `core.canonical.StrictJsonError`
NOT_UTF8, MALFORMED_JSON,
DUPLICATE_KEY,
NON_FINITE_NUMBER,
NUMBER_OUT_OF_RANGE,
INVALID_UNICODE
=========================  ===============================================================================

The checks are written out by hand rather than driven by a generic schema engine: this runs on the
ingest hot path, so the happy path raises no exception and builds no path strings; paths and
translated messages are made only when something is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn

from django.utils.translation import gettext as _

from core.canonical import MAX_SAFE_INTEGER, StrictJsonError, json_path, parse_json_strict
from core.errors import InvalidInput
from core.signing import ALGORITHMS, ECDSA_P256, ED25519

__all__ = [
    "ALARM_FLAGS",
    "FORMAT",
    "MAX_ENVELOPE_BYTES",
    "MAX_ENVELOPE_DEPTH",
    "REJECTION_CODES",
    "THERMAL_EVENT_KINDS",
    "Fault",
    "SnapshotEnvelope",
    "SnapshotRejected",
    "SnapshotSignature",
    "ThermalEvent",
    "parse_envelope",
    "strict_json_rejection",
    "validate_envelope",
]

FORMAT = "voltrace.bms-snapshot/1"

# Every code a `SnapshotRejected` can carry (the table above), for API documentation.
REJECTION_CODES = (
    "SCHEMA_TYPE",
    "SCHEMA_MISSING",
    "SCHEMA_UNKNOWN_FIELD",
    "SCHEMA_RANGE",
    "SCHEMA_LENGTH",
    "SCHEMA_FORMAT",
    "SCHEMA_CHOICE",
    "SCHEMA_INCONSISTENT",
    "UNSUPPORTED_FORMAT",
    "SIGNATURE_MALFORMED",
    "TOO_LARGE",
    "TOO_DEEP",
    "NOT_UTF8",
    "MALFORMED_JSON",
    "DUPLICATE_KEY",
    "NON_FINITE_NUMBER",
    "NUMBER_OUT_OF_RANGE",
    "INVALID_UNICODE",
)

# An envelope is at most four levels deep (envelope > payload > vehicle > owner, or > faults > item);
# eight leaves room for nothing absurd. A payload with the maximum 1,000 faults of 500-character text
# and 1,000 thermal events stays under 1 MiB.
MAX_ENVELOPE_BYTES = 1024 * 1024
MAX_ENVELOPE_DEPTH = 8

# Field limits. Every number has an upper bound, so nothing huge reaches storage or canonicalisation.
IDENTIFIER_MAX_LENGTH = 128
SEQUENCE_MAX = MAX_SAFE_INTEGER
SOC_RANGE = (0.0, 100.0)
# Up to 120: new cells often deliver a few percent over rated capacity; the plausibility rules judge
# the 100..120 band, the schema only refuses what no BMS can mean.
SOH_RANGE = (0.0, 120.0)
CYCLE_COUNT_MAX = 1_000_000
THROUGHPUT_MAX_KWH = 100_000_000.0
PACK_VOLTAGE_RANGE_V = (0.0, 1500.0)
CELL_VOLTAGE_RANGE_V = (0.0, 6.0)
CELL_COUNT_RANGE = (1, 1024)
# Reported extremes must be the extremes of the cell list (1 mV of rounding allowed).
CELL_EXTREMES_TOLERANCE_V = 0.001
CELL_TEMPERATURE_RANGE_C = (-60.0, 200.0)
INSULATION_MAX_KOHM = 100_000_000.0
FAULTS_MAX = 1000
FAULT_CODE_MAX_LENGTH = 32
FAULT_TEXT_MAX_LENGTH = 500
FAULT_SEVERITY_RANGE = (1, 5)
THERMAL_EVENTS_MAX = 1000
THERMAL_EVENT_TEMPERATURE_RANGE_C = (-60.0, 1200.0)
RECALIBRATION_REASON_MAX_LENGTH = 500
TIMESTAMP_MIN_YEAR = 1970
SIGNATURE_VALUE_MAX_LENGTH = 100  # base64 of the longest DER ECDSA signature (72 bytes) is 96
ED25519_SIGNATURE_LENGTH = 64
ECDSA_DER_SIGNATURE_LENGTH = (8, 72)

ALARM_FLAGS = frozenset(
    {
        "over_temperature",
        "under_temperature",
        "cell_overvoltage",
        "cell_undervoltage",
        "pack_overvoltage",
        "pack_undervoltage",
        "charge_overcurrent",
        "discharge_overcurrent",
        "cell_imbalance",
        "insulation_fault",
        "low_soc",
        "thermal_runaway",
        "communication_fault",
    }
)

THERMAL_EVENT_KINDS = frozenset(
    {
        "over_temperature",
        "rapid_temperature_rise",
        "thermal_runaway",
        "venting",
        "fire",
        "cooling_failure",
        "external_heat",
    }
)

# Vehicle block: personal data, kept only inside the (encrypted) payload; checked for type and length.
VEHICLE_STRING_LENGTHS = {"vin": 32, "plate": 32, "sim_iccid": 32, "imei": 32}
OWNER_STRING_LENGTHS = {"name": 200, "id_number": 64, "phone": 32}
LATITUDE_RANGE = (-90.0, 90.0)
LONGITUDE_RANGE = (-180.0, 180.0)

_ENVELOPE_FIELDS = frozenset({"format", "payload", "signature"})
_SIGNATURE_FIELDS = frozenset({"alg", "key_id", "value"})
_PAYLOAD_REQUIRED = (
    "battery_code",
    "captured_at",
    "device_id",
    "soc_pct",
    "soh_pct",
    "cycle_count",
    "pack_voltage_v",
    "cell_voltage_min_v",
    "cell_voltage_max_v",
    "cell_temp_min_c",
    "cell_temp_max_c",
    "insulation_resistance_kohm",
)
_PAYLOAD_OPTIONAL = (
    "sequence",
    "throughput_kwh",
    "cell_voltages_v",
    "alarms",
    "faults",
    "thermal_events",
    "soh_recalibrated",
    "soh_recalibration_reason",
    "vehicle",
)
_PAYLOAD_FIELDS = frozenset(_PAYLOAD_REQUIRED + _PAYLOAD_OPTIONAL)
_PAYLOAD_REQUIRED_SET = frozenset(_PAYLOAD_REQUIRED)
_FAULT_REQUIRED = ("code", "at", "severity")
_FAULT_FIELDS = frozenset((*_FAULT_REQUIRED, "text"))
_FAULT_REQUIRED_SET = frozenset(_FAULT_REQUIRED)
_THERMAL_REQUIRED = ("started_at", "max_temp_c", "kind")
_THERMAL_FIELDS = frozenset((*_THERMAL_REQUIRED, "ended_at"))
_THERMAL_REQUIRED_SET = frozenset(_THERMAL_REQUIRED)
_VEHICLE_FIELDS = frozenset({*VEHICLE_STRING_LENGTHS, "owner", "location"})
_OWNER_FIELDS = frozenset(OWNER_STRING_LENGTHS)
_LOCATION_FIELDS = frozenset({"lat", "lon"})
_NOTHING_REQUIRED: frozenset[str] = frozenset()

# Identifiers are stored in clear and shown in pages and logs: printable ASCII, no spaces.
_IDENTIFIER = re.compile(r"[!-~]+\Z")
# Free text may hold any Unicode but no control characters other than tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z", re.ASCII
)
_KEY_ID = re.compile(r"[0-9a-f]{64}\Z")

_ABSENT: Any = object()
_NO_ALARMS: Mapping[str, bool] = MappingProxyType({})
_NUMBER_TYPES = frozenset({int, float})  # type() of True is bool, so booleans are never numbers here
_PAYLOAD_NUMBERS = (
    ("soc_pct", *SOC_RANGE),
    ("soh_pct", *SOH_RANGE),
    ("pack_voltage_v", *PACK_VOLTAGE_RANGE_V),
    ("cell_voltage_min_v", *CELL_VOLTAGE_RANGE_V),
    ("cell_voltage_max_v", *CELL_VOLTAGE_RANGE_V),
    ("cell_temp_min_c", *CELL_TEMPERATURE_RANGE_C),
    ("cell_temp_max_c", *CELL_TEMPERATURE_RANGE_C),
    ("insulation_resistance_kohm", 0.0, INSULATION_MAX_KOHM),
)


class SnapshotRejected(InvalidInput):
    """A snapshot envelope refused before anything is stored, naming the field at fault."""

    default_code = "SNAPSHOT_REJECTED"

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)


class Fault(NamedTuple):
    """A fault code the BMS recorded."""

    code: str
    at: datetime
    severity: int
    text: str | None


class ThermalEvent(NamedTuple):
    """A thermal episode the BMS recorded; `ended_at` is None while it is still going on."""

    started_at: datetime
    ended_at: datetime | None
    max_temp_c: float
    kind: str


@dataclass(frozen=True, slots=True)
class SnapshotSignature:
    """The envelope's signature block, with the signature value decoded."""

    alg: str
    key_id: str
    value: str
    value_bytes: bytes


@dataclass(frozen=True, slots=True)
class SnapshotEnvelope:
    """A schema-valid envelope: the payload as received (for canonicalisation) and its typed fields.

    The vehicle block is personal data: it is validated but has no typed copy here, so it cannot leak
    into clear-text columns; it lives only inside `payload`, which is stored encrypted.
    `payload` is the parsed document itself; treat it as read-only.
    """

    format: str
    payload: dict[str, Any]
    signature: SnapshotSignature
    battery_code: str
    captured_at: datetime
    device_id: str
    sequence: int | None
    soc_pct: float
    soh_pct: float
    cycle_count: int
    throughput_kwh: float | None
    pack_voltage_v: float
    cell_voltages_v: tuple[float, ...] | None
    cell_voltage_min_v: float
    cell_voltage_max_v: float
    cell_temp_min_c: float
    cell_temp_max_c: float
    insulation_resistance_kohm: float
    alarms: Mapping[str, bool]
    faults: tuple[Fault, ...]
    thermal_events: tuple[ThermalEvent, ...]
    soh_recalibrated: bool
    soh_recalibration_reason: str | None
    has_vehicle: bool

    @property
    def fault_count(self) -> int:
        return len(self.faults)

    @property
    def thermal_event_count(self) -> int:
        return len(self.thermal_events)


# ---------------------------------------------------------------------------------------------------
# Refusals (cold path: paths and translated messages are built only here)
# ---------------------------------------------------------------------------------------------------


def _path(root: str, relative: str) -> str:
    if not root:
        return relative
    if not relative:
        return root
    return root + relative if relative.startswith("[") else f"{root}.{relative}"


def _json_type(value: Any) -> str:
    if value is None:
        return _("null")
    if isinstance(value, bool):
        return _("true/false")
    if isinstance(value, int | float):
        return _("a number")
    if isinstance(value, str):
        return _("a string")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("an object")
    return type(value).__name__


def _reject(code: str, message: str, root: str, relative: str) -> NoReturn:
    raise SnapshotRejected(code, message, _path(root, relative) or None)


def _reject_type(value: Any, expected: str, root: str, relative: str) -> NoReturn:
    field = _path(root, relative) or _("the envelope")
    if value is None:
        message = _("%(field)s must be %(expected)s, not null; leave an optional field out instead.")
    else:
        message = _("%(field)s must be %(expected)s, not %(actual)s.")
    _reject(
        "SCHEMA_TYPE",
        message % {"field": field, "expected": expected, "actual": _json_type(value)},
        root,
        relative,
    )


def _reject_number(
    value: Any, low: float, high: float, root: str, relative: str, *, integer: bool
) -> NoReturn:
    kind = type(value)
    if integer and kind is not int:
        if kind is float:
            message = _("%(field)s must be a whole number (an integer), not %(value)s.") % {
                "field": _path(root, relative),
                "value": repr(value),
            }
            _reject("SCHEMA_TYPE", message, root, relative)
        _reject_type(value, _("an integer"), root, relative)
    if kind is not int and kind is not float:
        _reject_type(value, _("a number"), root, relative)
    if value != value:  # NaN; the strict parser refuses it, a caller's own dict might not
        message = _("%(field)s must be a finite number.") % {"field": _path(root, relative)}
    else:
        message = _("%(field)s must be between %(min)s and %(max)s; it is %(value)s.") % {
            "field": _path(root, relative),
            "min": _plain(low),
            "max": _plain(high),
            "value": _plain(value),
        }
    _reject("SCHEMA_RANGE", message, root, relative)


def _plain(number: float) -> str:
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return str(number)


def _reject_string(value: Any, min_length: int, max_length: int, root: str, relative: str) -> NoReturn:
    if type(value) is not str:
        _reject_type(value, _("a string"), root, relative)
    field = _path(root, relative)
    if not min_length <= len(value) <= max_length:
        message = _("%(field)s must be %(min)d to %(max)d characters long; it has %(length)d.") % {
            "field": field,
            "min": min_length,
            "max": max_length,
            "length": len(value),
        }
        _reject("SCHEMA_LENGTH", message, root, relative)
    message = _("%(field)s contains a control character, which is not allowed.") % {"field": field}
    _reject("SCHEMA_FORMAT", message, root, relative)


def _reject_identifier(value: Any, root: str, relative: str) -> NoReturn:
    if type(value) is str and 1 <= len(value) <= IDENTIFIER_MAX_LENGTH:
        message = _("%(field)s may contain only printable ASCII characters without spaces.") % {
            "field": _path(root, relative)
        }
        _reject("SCHEMA_FORMAT", message, root, relative)
    _reject_string(value, 1, IDENTIFIER_MAX_LENGTH, root, relative)


def _reject_keys(
    mapping: dict[str, Any], allowed: frozenset[str], required: tuple[str, ...], root: str, where: str
) -> NoReturn:
    for key in mapping:
        if key not in allowed:
            relative = json_path(where, key)
            message = _("%(field)s is not a field of this format (allowed here: %(allowed)s).") % {
                "field": _path(root, relative),
                "allowed": ", ".join(sorted(allowed)),
            }
            _reject("SCHEMA_UNKNOWN_FIELD", message, root, relative)
    for key in required:
        if key not in mapping:
            relative = json_path(where, key)
            message = _("%(field)s is required.") % {"field": _path(root, relative)}
            _reject("SCHEMA_MISSING", message, root, relative)
    raise AssertionError("unreachable: keys were acceptable")  # pragma: no cover


def _reject_list(value: Any, max_items: int, root: str, relative: str, *, min_items: int = 0) -> NoReturn:
    if type(value) is not list:
        _reject_type(value, _("a list"), root, relative)
    message = _("%(field)s must have %(min)d to %(max)d items; it has %(count)d.") % {
        "field": _path(root, relative),
        "min": min_items,
        "max": max_items,
        "count": len(value),
    }
    _reject("SCHEMA_LENGTH", message, root, relative)


def _reject_inconsistent(message: str, root: str, relative: str) -> NoReturn:
    _reject("SCHEMA_INCONSISTENT", message, root, relative)


def _reject_signature(message: str, root: str, relative: str) -> NoReturn:
    _reject("SIGNATURE_MALFORMED", message, root, relative)


# ---------------------------------------------------------------------------------------------------
# Field checks (hot path: type() identity tests, chained comparisons, no exceptions when valid)
# ---------------------------------------------------------------------------------------------------


def _keys(
    mapping: dict[str, Any],
    allowed: frozenset[str],
    required: frozenset[str],
    order: tuple[str, ...],
    root: str,
    where: str,
) -> None:
    keys = mapping.keys()
    if not (keys <= allowed and required <= keys):
        _reject_keys(mapping, allowed, order, root, where)


def _object(value: Any, root: str, relative: str) -> dict[str, Any]:
    if type(value) is not dict:
        _reject_type(value, _("an object"), root, relative)
    return value


def _number(value: Any, low: float, high: float, root: str, relative: str) -> float:
    kind = type(value)
    if (kind is float or kind is int) and low <= value <= high:
        return float(value)
    _reject_number(value, low, high, root, relative, integer=False)


def _integer(value: Any, low: int, high: int, root: str, relative: str) -> int:
    if type(value) is int and low <= value <= high:
        return value
    _reject_number(value, low, high, root, relative, integer=True)


def _identifier(value: Any, root: str, relative: str) -> str:
    if type(value) is str and len(value) <= IDENTIFIER_MAX_LENGTH and _IDENTIFIER.match(value):
        return value
    _reject_identifier(value, root, relative)


def _text(value: Any, min_length: int, max_length: int, root: str, relative: str) -> str:
    if type(value) is str and min_length <= len(value) <= max_length and not _CONTROL.search(value):
        return value
    _reject_string(value, min_length, max_length, root, relative)


def _boolean(value: Any, root: str, relative: str) -> bool:
    if type(value) is bool:
        return value
    _reject_type(value, _("true or false"), root, relative)


def _moment(text: str) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime, or None if it is not one we accept."""
    if not _RFC3339.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text.upper())
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None  # a calendar-impossible date, a leap second, or beyond year 9999 in UTC
    return moment if moment.year >= TIMESTAMP_MIN_YEAR else None


def _timestamp(value: Any, root: str, relative: str) -> datetime:
    moment = _moment(value) if type(value) is str else None
    if moment is None:
        _reject_timestamp(value, root, relative)
    return moment


def _reject_timestamp(value: Any, root: str, relative: str) -> NoReturn:
    if type(value) is not str:
        _reject_type(value, _("an RFC 3339 timestamp string"), root, relative)
    field = _path(root, relative)
    if not _RFC3339.match(value):
        message = _(
            "%(field)s must be an RFC 3339 timestamp with seconds and a time zone, "
            "such as 2026-05-01T08:00:00Z or 2026-05-01T16:00:00+08:00."
        ) % {"field": field}
        _reject("SCHEMA_FORMAT", message, root, relative)
    try:
        datetime.fromisoformat(value.upper())
    except ValueError:
        message = _("%(field)s is not a real date and time: %(value)s.") % {"field": field, "value": value}
        _reject("SCHEMA_FORMAT", message, root, relative)
    message = _("%(field)s must lie between the years %(min)d and 9999 in UTC; it is %(value)s.") % {
        "field": field,
        "min": TIMESTAMP_MIN_YEAR,
        "value": value,
    }
    _reject("SCHEMA_RANGE", message, root, relative)


def _cells(value: Any, root: str) -> tuple[float, ...]:
    low, high = CELL_VOLTAGE_RANGE_V
    if type(value) is list and CELL_COUNT_RANGE[0] <= len(value) <= CELL_COUNT_RANGE[1]:
        for voltage in value:
            kind = type(voltage)
            if not ((kind is float or kind is int) and low <= voltage <= high):
                break
        else:
            return tuple(map(float, value))
        for index, voltage in enumerate(value):
            _number(voltage, low, high, root, json_path("payload.cell_voltages_v", index))
    _reject_list(value, CELL_COUNT_RANGE[1], root, "payload.cell_voltages_v", min_items=CELL_COUNT_RANGE[0])


def _alarms(value: Any, root: str) -> Mapping[str, bool]:
    if type(value) is dict and value.keys() <= ALARM_FLAGS:
        for flag in value.values():
            if type(flag) is not bool:
                break
        else:
            return MappingProxyType(dict(value))
    _object(value, root, "payload.alarms")
    for name, flag in value.items():
        relative = json_path("payload.alarms", name)
        if name not in ALARM_FLAGS:
            message = _("%(field)s is not a known alarm (known alarms: %(allowed)s).") % {
                "field": _path(root, relative),
                "allowed": ", ".join(sorted(ALARM_FLAGS)),
            }
            _reject("SCHEMA_UNKNOWN_FIELD", message, root, relative)
        _boolean(flag, root, relative)
    raise AssertionError("unreachable: alarms were acceptable")  # pragma: no cover


def _faults(value: Any, root: str) -> tuple[Fault, ...]:
    if type(value) is not list or len(value) > FAULTS_MAX:
        _reject_list(value, FAULTS_MAX, root, "payload.faults")
    faults = []
    append = faults.append
    low, high = FAULT_SEVERITY_RANGE
    for index, item in enumerate(value):
        # Inline checks for a well-formed fault; anything else takes the path that names the field.
        if type(item) is dict and item.keys() <= _FAULT_FIELDS:
            code, at, severity = item.get("code"), item.get("at"), item.get("severity")
            text = item.get("text", _ABSENT)
            if (
                type(code) is str
                and 0 < len(code) <= FAULT_CODE_MAX_LENGTH
                and type(severity) is int
                and low <= severity <= high
                and (text is _ABSENT or (type(text) is str and len(text) <= FAULT_TEXT_MAX_LENGTH))
                and type(at) is str
                and (moment := _moment(at)) is not None
                and not _CONTROL.search(code)
                and (text is _ABSENT or not _CONTROL.search(text))
            ):
                append(Fault(code, moment, severity, None if text is _ABSENT else text))
                continue
        append(_checked_fault(item, f"payload.faults[{index}]", root))
    return tuple(faults)


def _checked_fault(item: Any, where: str, root: str) -> Fault:
    _object(item, root, where)
    _keys(item, _FAULT_FIELDS, _FAULT_REQUIRED_SET, _FAULT_REQUIRED, root, where)
    code = _text(item["code"], 1, FAULT_CODE_MAX_LENGTH, root, where + ".code")
    at = _timestamp(item["at"], root, where + ".at")
    severity = _integer(item["severity"], *FAULT_SEVERITY_RANGE, root, where + ".severity")
    text = item.get("text", _ABSENT)
    text = None if text is _ABSENT else _text(text, 0, FAULT_TEXT_MAX_LENGTH, root, where + ".text")
    return Fault(code, at, severity, text)


def _thermal_events(value: Any, root: str) -> tuple[ThermalEvent, ...]:
    if type(value) is not list or len(value) > THERMAL_EVENTS_MAX:
        _reject_list(value, THERMAL_EVENTS_MAX, root, "payload.thermal_events")
    events = []
    append = events.append
    low, high = THERMAL_EVENT_TEMPERATURE_RANGE_C
    for index, item in enumerate(value):
        if type(item) is dict and item.keys() <= _THERMAL_FIELDS:
            started, ended = item.get("started_at"), item.get("ended_at", _ABSENT)
            max_temp_c, kind = item.get("max_temp_c"), item.get("kind")
            kind_of_max = type(max_temp_c)
            if (
                (kind_of_max is float or kind_of_max is int)
                and low <= max_temp_c <= high
                and type(kind) is str
                and kind in THERMAL_EVENT_KINDS
                and type(started) is str
                and (started_at := _moment(started)) is not None
            ):
                if ended is _ABSENT:
                    append(ThermalEvent(started_at, None, float(max_temp_c), kind))
                    continue
                if type(ended) is str and (ended_at := _moment(ended)) is not None and ended_at >= started_at:
                    append(ThermalEvent(started_at, ended_at, float(max_temp_c), kind))
                    continue
        append(_checked_thermal_event(item, f"payload.thermal_events[{index}]", root))
    return tuple(events)


def _checked_thermal_event(item: Any, where: str, root: str) -> ThermalEvent:
    _object(item, root, where)
    _keys(item, _THERMAL_FIELDS, _THERMAL_REQUIRED_SET, _THERMAL_REQUIRED, root, where)
    started_at = _timestamp(item["started_at"], root, where + ".started_at")
    ended_at = item.get("ended_at", _ABSENT)
    if ended_at is _ABSENT:
        ended_at = None
    else:
        ended_at = _timestamp(ended_at, root, where + ".ended_at")
        if ended_at < started_at:
            _reject_inconsistent(
                _("%(field)s is before the event's start.") % {"field": _path(root, where + ".ended_at")},
                root,
                where + ".ended_at",
            )
    max_temp_c = _number(item["max_temp_c"], *THERMAL_EVENT_TEMPERATURE_RANGE_C, root, where + ".max_temp_c")
    kind = item["kind"]
    if type(kind) is not str or kind not in THERMAL_EVENT_KINDS:
        _reject_choice(kind, THERMAL_EVENT_KINDS, root, where + ".kind")
    return ThermalEvent(started_at, ended_at, max_temp_c, kind)


def _reject_choice(value: Any, choices: frozenset[str], root: str, relative: str) -> NoReturn:
    if type(value) is not str:
        _reject_type(value, _("a string"), root, relative)
    message = _("%(field)s must be one of %(choices)s; it is %(value)s.") % {
        "field": _path(root, relative),
        "choices": ", ".join(sorted(choices)),
        "value": repr(value),
    }
    _reject("SCHEMA_CHOICE", message, root, relative)


def _vehicle(value: Any, root: str) -> None:
    where = "payload.vehicle"
    _object(value, root, where)
    _keys(value, _VEHICLE_FIELDS, _NOTHING_REQUIRED, (), root, where)
    for name, max_length in VEHICLE_STRING_LENGTHS.items():
        if name in value:
            _text(value[name], 1, max_length, root, f"{where}.{name}")
    if "owner" in value:
        owner = _object(value["owner"], root, where + ".owner")
        _keys(owner, _OWNER_FIELDS, _NOTHING_REQUIRED, (), root, where + ".owner")
        for name, max_length in OWNER_STRING_LENGTHS.items():
            if name in owner:
                _text(owner[name], 1, max_length, root, f"{where}.owner.{name}")
    if "location" in value:
        location = _object(value["location"], root, where + ".location")
        _keys(location, _LOCATION_FIELDS, _LOCATION_FIELDS, ("lat", "lon"), root, where + ".location")
        _number(location["lat"], *LATITUDE_RANGE, root, where + ".location.lat")
        _number(location["lon"], *LONGITUDE_RANGE, root, where + ".location.lon")


def _signature(value: Any, root: str) -> SnapshotSignature:
    _object(value, root, "signature")
    _keys(value, _SIGNATURE_FIELDS, _SIGNATURE_FIELDS, ("alg", "key_id", "value"), root, "signature")
    alg = value["alg"]
    if type(alg) is not str:
        _reject_type(alg, _("a string"), root, "signature.alg")
    if alg not in ALGORITHMS:
        _reject_signature(
            _("%(field)s must be one of %(choices)s; it is %(value)s.")
            % {"field": _path(root, "signature.alg"), "choices": ", ".join(ALGORITHMS), "value": repr(alg)},
            root,
            "signature.alg",
        )
    key_id = value["key_id"]
    if type(key_id) is not str:
        _reject_type(key_id, _("a string"), root, "signature.key_id")
    if not _KEY_ID.match(key_id):
        _reject_signature(
            _("%(field)s must be the SHA-256 of the public key as 64 lowercase hexadecimal digits.")
            % {"field": _path(root, "signature.key_id")},
            root,
            "signature.key_id",
        )
    text = value["value"]
    if type(text) is not str:
        _reject_type(text, _("a string"), root, "signature.value")
    raw = _base64(text) if len(text) <= SIGNATURE_VALUE_MAX_LENGTH else None
    if raw is None:
        _reject_signature(
            _("%(field)s must be standard base64 with padding and nothing else.")
            % {"field": _path(root, "signature.value")},
            root,
            "signature.value",
        )
    if alg == ED25519:
        if len(raw) != ED25519_SIGNATURE_LENGTH:
            _reject_signature(
                _("An Ed25519 signature is %(expected)d bytes; this one is %(length)d.")
                % {"expected": ED25519_SIGNATURE_LENGTH, "length": len(raw)},
                root,
                "signature.value",
            )
    elif alg == ECDSA_P256:
        low, high = ECDSA_DER_SIGNATURE_LENGTH
        # A DER SEQUENCE of two INTEGERs: tag 0x30 and a one-byte length covering the rest.
        if not (low <= len(raw) <= high and raw[0] == 0x30 and raw[1] == len(raw) - 2):
            _reject_signature(
                _("An ECDSA P-256 signature must be a DER sequence of %(min)d to %(max)d bytes.")
                % {"min": low, "max": high},
                root,
                "signature.value",
            )
    return SnapshotSignature(alg, key_id, text, raw)


def _base64(text: str) -> bytes | None:
    """Strict standard base64: one spelling per byte string, so a signature cannot be re-encoded."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None  # non-zero padding bits or other non-canonical spellings
    return raw


def _payload(payload: Any, root: str) -> dict[str, Any]:
    p = _object(payload, root, "payload")
    _keys(p, _PAYLOAD_FIELDS, _PAYLOAD_REQUIRED_SET, _PAYLOAD_REQUIRED, root, "payload")
    fields: dict[str, Any] = {
        "battery_code": _identifier(p["battery_code"], root, "payload.battery_code"),
        "captured_at": _timestamp(p["captured_at"], root, "payload.captured_at"),
        "device_id": _identifier(p["device_id"], root, "payload.device_id"),
    }
    sequence = p.get("sequence", _ABSENT)
    fields["sequence"] = (
        None if sequence is _ABSENT else _integer(sequence, 0, SEQUENCE_MAX, root, "payload.sequence")
    )
    # The required numbers in one loop; with several wrong, the first in the table is reported.
    for name, low, high in _PAYLOAD_NUMBERS:
        value = p[name]
        if type(value) not in _NUMBER_TYPES or not low <= value <= high:
            _reject_number(value, low, high, root, "payload." + name, integer=False)
    fields["soc_pct"] = float(p["soc_pct"])
    fields["soh_pct"] = float(p["soh_pct"])
    fields["cycle_count"] = _integer(p["cycle_count"], 0, CYCLE_COUNT_MAX, root, "payload.cycle_count")
    fields["pack_voltage_v"] = float(p["pack_voltage_v"])
    throughput = p.get("throughput_kwh", _ABSENT)
    fields["throughput_kwh"] = (
        None
        if throughput is _ABSENT
        else _number(throughput, 0.0, THROUGHPUT_MAX_KWH, root, "payload.throughput_kwh")
    )

    cell_min = float(p["cell_voltage_min_v"])
    cell_max = float(p["cell_voltage_max_v"])
    if cell_min > cell_max:
        _reject_inconsistent(
            _("%(field)s (%(min)s) is above %(other)s (%(max)s).")
            % {
                "field": _path(root, "payload.cell_voltage_min_v"),
                "other": _path(root, "payload.cell_voltage_max_v"),
                "min": cell_min,
                "max": cell_max,
            },
            root,
            "payload.cell_voltage_min_v",
        )
    cells = p.get("cell_voltages_v", _ABSENT)
    if cells is _ABSENT:
        cells = None
    else:
        cells = _cells(cells, root)
        for relative, reported, actual in (
            ("payload.cell_voltage_min_v", cell_min, min(cells)),
            ("payload.cell_voltage_max_v", cell_max, max(cells)),
        ):
            if abs(reported - actual) > CELL_EXTREMES_TOLERANCE_V:
                _reject_inconsistent(
                    _("%(field)s is %(reported)s but the cell list says %(actual)s.")
                    % {"field": _path(root, relative), "reported": reported, "actual": actual},
                    root,
                    relative,
                )
    fields["cell_voltages_v"] = cells
    fields["cell_voltage_min_v"] = cell_min
    fields["cell_voltage_max_v"] = cell_max

    temp_min = float(p["cell_temp_min_c"])
    temp_max = float(p["cell_temp_max_c"])
    if temp_min > temp_max:
        _reject_inconsistent(
            _("%(field)s (%(min)s) is above %(other)s (%(max)s).")
            % {
                "field": _path(root, "payload.cell_temp_min_c"),
                "other": _path(root, "payload.cell_temp_max_c"),
                "min": temp_min,
                "max": temp_max,
            },
            root,
            "payload.cell_temp_min_c",
        )
    fields["cell_temp_min_c"] = temp_min
    fields["cell_temp_max_c"] = temp_max
    fields["insulation_resistance_kohm"] = float(p["insulation_resistance_kohm"])

    alarms = p.get("alarms", _ABSENT)
    fields["alarms"] = _NO_ALARMS if alarms is _ABSENT else _alarms(alarms, root)
    faults = p.get("faults", _ABSENT)
    fields["faults"] = () if faults is _ABSENT else _faults(faults, root)
    thermal_events = p.get("thermal_events", _ABSENT)
    fields["thermal_events"] = () if thermal_events is _ABSENT else _thermal_events(thermal_events, root)

    recalibrated = p.get("soh_recalibrated", _ABSENT)
    recalibrated = (
        False if recalibrated is _ABSENT else _boolean(recalibrated, root, "payload.soh_recalibrated")
    )
    reason = p.get("soh_recalibration_reason", _ABSENT)
    if reason is _ABSENT:
        if recalibrated:
            _reject(
                "SCHEMA_MISSING",
                _("%(field)s is required when payload.soh_recalibrated is true.")
                % {"field": _path(root, "payload.soh_recalibration_reason")},
                root,
                "payload.soh_recalibration_reason",
            )
        reason = None
    else:
        reason = _text(reason, 1, RECALIBRATION_REASON_MAX_LENGTH, root, "payload.soh_recalibration_reason")
        if not recalibrated:
            _reject_inconsistent(
                _("%(field)s is only allowed when payload.soh_recalibrated is true.")
                % {"field": _path(root, "payload.soh_recalibration_reason")},
                root,
                "payload.soh_recalibration_reason",
            )
    fields["soh_recalibrated"] = recalibrated
    fields["soh_recalibration_reason"] = reason

    vehicle = p.get("vehicle", _ABSENT)
    if vehicle is not _ABSENT:
        _vehicle(vehicle, root)
    fields["has_vehicle"] = vehicle is not _ABSENT
    return fields


# ---------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------


def validate_envelope(document: Any, *, root: str = "") -> SnapshotEnvelope:
    """Check a parsed envelope at every level and return its typed form, or raise `SnapshotRejected`.

    `document` must come from `core.canonical.parse_json_strict`. `root` prefixes every field path
    (for example "[3]" for the fourth envelope of a batch).
    """
    envelope = _object(document, root, "")
    _keys(envelope, _ENVELOPE_FIELDS, _ENVELOPE_FIELDS, ("format", "payload", "signature"), root, "")
    format_name = envelope["format"]
    if format_name != FORMAT or type(format_name) is not str:
        if type(format_name) is not str:
            _reject_type(format_name, _("a string"), root, "format")
        _reject(
            "UNSUPPORTED_FORMAT",
            _("%(field)s must be %(expected)s; %(value)s is not supported.")
            % {"field": _path(root, "format"), "expected": FORMAT, "value": repr(format_name)},
            root,
            "format",
        )
    fields = _payload(envelope["payload"], root)
    signature = _signature(envelope["signature"], root)
    return SnapshotEnvelope(format=FORMAT, payload=envelope["payload"], signature=signature, **fields)


def parse_envelope(
    raw: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES, max_depth: int = MAX_ENVELOPE_DEPTH
) -> SnapshotEnvelope:
    """Parse the raw bytes of one envelope strictly (limits first) and validate it."""
    try:
        document = parse_json_strict(raw, max_bytes=max_bytes, max_depth=max_depth)
    except StrictJsonError as error:
        raise strict_json_rejection(error, max_bytes=max_bytes, max_depth=max_depth, size=len(raw)) from None
    return validate_envelope(document)


def strict_json_rejection(
    error: StrictJsonError, *, max_bytes: int, max_depth: int, size: int, root: str = ""
) -> SnapshotRejected:
    """The `SnapshotRejected` for a `StrictJsonError`, keeping its code and path, in the user's language."""
    field = _path(root, error.path or "") or None
    where = field or _("the snapshot")
    code = error.code
    if code == "TOO_LARGE":
        message = _("The snapshot is %(size)d bytes, over the limit of %(limit)d bytes.") % {
            "size": size,
            "limit": max_bytes,
        }
    elif code == "TOO_DEEP":
        message = _("The snapshot is nested more than %(limit)d levels deep.") % {"limit": max_depth}
    elif code == "NOT_UTF8":
        message = _("The snapshot is not valid UTF-8 text.")
    elif code == "MALFORMED_JSON":
        message = _("The snapshot is not well-formed JSON (%(detail)s).") % {"detail": error.message}
    elif code == "DUPLICATE_KEY":
        message = _("%(field)s appears twice in the same object.") % {"field": where}
    elif code == "NON_FINITE_NUMBER":
        message = _("%(field)s is NaN or Infinity, which JSON does not allow.") % {"field": where}
    elif code == "NUMBER_OUT_OF_RANGE":
        message = _("%(field)s is a number too large to be represented exactly.") % {"field": where}
    elif code == "INVALID_UNICODE":
        message = _("%(field)s contains a lone UTF-16 surrogate, which is not valid Unicode.") % {
            "field": where
        }
    else:
        message = _("The snapshot is not acceptable JSON (%(detail)s).") % {"detail": error.message}
    return SnapshotRejected(code, message, field)
