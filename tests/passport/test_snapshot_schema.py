"""The snapshot envelope schema: every field rule, every refusal code, and the field path it names."""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.canonical import canonicalize
from core.errors import InvalidInput
from passport.snapshots import schema
from passport.snapshots.schema import (
    ALARM_FLAGS,
    FORMAT,
    THERMAL_EVENT_KINDS,
    Fault,
    SnapshotEnvelope,
    SnapshotRejected,
    ThermalEvent,
    parse_envelope,
    validate_envelope,
)
from tests.snapshot_builders import (
    DEFAULT_BATTERY_CODE,
    DEFAULT_CAPTURED_AT,
    REMOVE,
    ecdsa_device_key,
    envelope_bytes,
    lfp_payload,
    sign_envelope,
)

BASE = sign_envelope(lfp_payload())

PAYLOAD_REQUIRED = (
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
PAYLOAD_OPTIONAL = (
    "sequence",
    "throughput_kwh",
    "cell_voltages_v",
    "alarms",
    "faults",
    "thermal_events",
    "vehicle",
)


def _steps(path: str) -> list[str | int]:
    return [
        int(token[1:-1]) if token.startswith("[") else token
        for token in re.findall(r"\[\d+\]|[^.\[\]]+", path)
    ]


def mutated(path: str, value: Any = REMOVE, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of the base envelope with the value at a dotted path replaced (or removed)."""
    document = copy.deepcopy(BASE if document is None else document)
    *parents, last = _steps(path)
    node: Any = document
    for step in parents:
        node = node[step]
    if value is REMOVE:
        del node[last]
    else:
        node[last] = value
    return document


def rejection(document: Any, **kwargs: Any) -> SnapshotRejected:
    with pytest.raises(SnapshotRejected) as caught:
        validate_envelope(document, **kwargs)
    return caught.value


def assert_rejected(document: Any, code: str, field: str | None) -> SnapshotRejected:
    refused = rejection(document)
    assert (refused.code, refused.field) == (code, field), refused.message
    assert str(refused.message)
    if field:
        assert field in str(refused.message) or code.startswith("SIGNATURE") or code == "UNSUPPORTED_FORMAT"
    return refused


# ---------------------------------------------------------------------------------------------------
# Valid envelopes
# ---------------------------------------------------------------------------------------------------


def test_validate_envelope_returns_typed_fields_of_a_realistic_lfp_snapshot():
    envelope = validate_envelope(copy.deepcopy(BASE))
    payload = BASE["payload"]
    assert isinstance(envelope, SnapshotEnvelope)
    assert envelope.format == FORMAT
    assert envelope.battery_code == DEFAULT_BATTERY_CODE
    assert envelope.captured_at == DEFAULT_CAPTURED_AT
    assert envelope.captured_at.tzinfo is UTC
    assert envelope.device_id == payload["device_id"]
    assert envelope.sequence == 1
    assert (envelope.soc_pct, envelope.soh_pct, envelope.cycle_count) == (61.5, 87.2, 812)
    assert envelope.throughput_kwh == payload["throughput_kwh"]
    assert envelope.pack_voltage_v == payload["pack_voltage_v"]
    assert len(envelope.cell_voltages_v) == 96
    assert all(type(voltage) is float for voltage in envelope.cell_voltages_v)
    assert envelope.cell_voltage_min_v == min(envelope.cell_voltages_v)
    assert envelope.cell_voltage_max_v == max(envelope.cell_voltages_v)
    assert type(envelope.insulation_resistance_kohm) is float
    assert envelope.alarms["over_temperature"] is False
    assert envelope.fault_count == 2
    assert all(isinstance(fault, Fault) and fault.at.tzinfo is UTC for fault in envelope.faults)
    assert envelope.faults[0].severity == 2
    assert envelope.thermal_event_count == 1
    assert isinstance(envelope.thermal_events[0], ThermalEvent)
    assert envelope.thermal_events[0].ended_at - envelope.thermal_events[0].started_at == timedelta(
        minutes=18
    )
    assert envelope.soh_recalibrated is False
    assert envelope.soh_recalibration_reason is None
    assert envelope.has_vehicle is True
    assert envelope.signature.alg == "Ed25519"
    assert len(envelope.signature.value_bytes) == 64
    assert base64.b64encode(envelope.signature.value_bytes).decode() == envelope.signature.value


def test_validate_envelope_keeps_the_payload_as_received_for_canonicalisation():
    document = copy.deepcopy(BASE)
    envelope = validate_envelope(document)
    assert envelope.payload is document["payload"]
    assert canonicalize(envelope.payload) == canonicalize(BASE["payload"])


def test_validate_envelope_exposes_no_typed_copy_of_vehicle_data():
    envelope = validate_envelope(copy.deepcopy(BASE))
    field_names = set(SnapshotEnvelope.__dataclass_fields__)
    assert not field_names & {"vehicle", "vin", "plate", "owner", "location", "sim_iccid", "imei"}
    assert envelope.payload["vehicle"]["owner"]["name"] == "张伟"


def test_envelope_is_frozen():
    envelope = validate_envelope(copy.deepcopy(BASE))
    with pytest.raises(AttributeError):
        envelope.soh_pct = 100.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        envelope.alarms["over_temperature"] = True  # type: ignore[index]


def test_validate_envelope_accepts_a_payload_with_only_the_required_fields():
    payload = {name: BASE["payload"][name] for name in PAYLOAD_REQUIRED}
    envelope = validate_envelope({**copy.deepcopy(BASE), "payload": payload})
    assert envelope.sequence is None
    assert envelope.throughput_kwh is None
    assert envelope.cell_voltages_v is None
    assert dict(envelope.alarms) == {}
    assert envelope.faults == ()
    assert envelope.thermal_events == ()
    assert envelope.has_vehicle is False


def test_validate_envelope_accepts_an_ecdsa_p256_der_signature():
    envelope = validate_envelope(sign_envelope(lfp_payload(), ecdsa_device_key()))
    assert envelope.signature.alg == "ECDSA-P256"
    assert envelope.signature.value_bytes[0] == 0x30
    assert 8 <= len(envelope.signature.value_bytes) <= 72


def test_parse_envelope_accepts_the_bytes_a_device_sends():
    envelope = parse_envelope(envelope_bytes(BASE))
    assert envelope.battery_code == DEFAULT_BATTERY_CODE
    assert envelope.payload == BASE["payload"]


def test_validate_envelope_accepts_integers_where_numbers_are_expected():
    document = mutated("payload.soc_pct", 61)
    document["payload"]["cell_voltages_v"] = [3] * 96
    document["payload"].update(cell_voltage_min_v=3, cell_voltage_max_v=3, insulation_resistance_kohm=5200)
    envelope = validate_envelope(document)
    assert type(envelope.soc_pct) is float
    assert envelope.cell_voltages_v == (3.0,) * 96


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T08:00:00Z", datetime(2026, 5, 1, 8, tzinfo=UTC)),
        ("2026-05-01t08:00:00z", datetime(2026, 5, 1, 8, tzinfo=UTC)),
        ("2026-05-01T16:00:00+08:00", datetime(2026, 5, 1, 8, tzinfo=UTC)),
        ("2026-05-01T03:30:00-04:30", datetime(2026, 5, 1, 8, tzinfo=UTC)),
        ("2026-05-01T08:00:00-00:00", datetime(2026, 5, 1, 8, tzinfo=UTC)),
        ("2026-05-01T08:00:00.5Z", datetime(2026, 5, 1, 8, 0, 0, 500000, tzinfo=UTC)),
        ("2026-05-01T08:00:00.123456789Z", datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2028-02-29T23:59:59+00:00", datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_captured_at_accepts_rfc3339_with_a_zone_and_becomes_utc(text, expected):
    envelope = validate_envelope(mutated("payload.captured_at", text))
    assert envelope.captured_at == expected
    assert envelope.captured_at.utcoffset() == timedelta(0)


def test_fault_and_event_times_are_converted_to_utc():
    document = mutated("payload.faults[0].at", "2026-04-30T20:00:00+08:00")
    document["payload"]["thermal_events"][0]["started_at"] = "2026-04-28T00:00:00-02:00"
    document["payload"]["thermal_events"][0]["ended_at"] = "2026-04-28T02:30:00Z"
    envelope = validate_envelope(document)
    assert envelope.faults[0].at == datetime(2026, 4, 30, 12, tzinfo=UTC)
    assert envelope.thermal_events[0].started_at == datetime(2026, 4, 28, 2, tzinfo=UTC)
    assert envelope.thermal_events[0].started_at.tzinfo is UTC


def test_thermal_event_without_end_is_ongoing():
    envelope = validate_envelope(mutated("payload.thermal_events[0].ended_at"))
    assert envelope.thermal_events[0].ended_at is None


def test_thermal_event_may_end_when_it_starts():
    document = copy.deepcopy(BASE)
    event = document["payload"]["thermal_events"][0]
    event["ended_at"] = event["started_at"]
    assert (
        validate_envelope(document).thermal_events[0].ended_at
        == validate_envelope(document).thermal_events[0].started_at
    )


def test_soh_recalibration_marker_with_reason_is_accepted():
    document = copy.deepcopy(BASE)
    document["payload"].update(
        soh_recalibrated=True, soh_recalibration_reason="Full capacity test at service"
    )
    envelope = validate_envelope(document)
    assert envelope.soh_recalibrated is True
    assert envelope.soh_recalibration_reason == "Full capacity test at service"


def test_soh_recalibrated_false_without_reason_is_accepted():
    assert validate_envelope(mutated("payload.soh_recalibrated", False)).soh_recalibrated is False


@pytest.mark.parametrize("alarm", sorted(ALARM_FLAGS))
def test_every_defined_alarm_is_accepted(alarm):
    assert validate_envelope(mutated("payload.alarms", {alarm: True})).alarms == {alarm: True}


@pytest.mark.parametrize("kind", sorted(THERMAL_EVENT_KINDS))
def test_every_defined_thermal_event_kind_is_accepted(kind):
    assert validate_envelope(mutated("payload.thermal_events[0].kind", kind)).thermal_events[0].kind == kind


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.soc_pct", 0),
        ("payload.soc_pct", 100.0),
        ("payload.soh_pct", 0.0),
        ("payload.soh_pct", 120),
        ("payload.cycle_count", 0),
        ("payload.cycle_count", 1_000_000),
        ("payload.sequence", 0),
        ("payload.sequence", 2**53 - 1),
        ("payload.throughput_kwh", 0),
        ("payload.pack_voltage_v", 1500),
        ("payload.pack_voltage_v", 0.0),
        ("payload.cell_temp_min_c", -60.0),
        ("payload.cell_temp_max_c", 200.0),
        ("payload.insulation_resistance_kohm", 0),
        ("payload.faults[0].severity", 1),
        ("payload.faults[0].severity", 5),
        ("payload.faults[0].text", ""),
        ("payload.faults[0].text", "é" * 500),
        ("payload.faults[0].code", "C" * 32),
        ("payload.thermal_events[0].max_temp_c", 1200),
        ("payload.thermal_events[0].max_temp_c", -60),
        ("payload.vehicle.location.lat", -90),
        ("payload.vehicle.location.lon", 180.0),
        ("payload.battery_code", "B" * 128),
        ("payload.battery_code", "(01)09501101530003(21)ABC-123/x"),
        ("payload.vehicle.owner.name", "名" * 200),
        ("payload.faults[0].text", "line one\nline two\tindented\r\n"),
        ("payload.faults", []),
        ("payload.thermal_events", []),
        ("payload.alarms", {}),
        ("payload.vehicle", {}),
    ],
)
def test_values_at_the_edge_of_their_range_are_accepted(path, value):
    validate_envelope(mutated(path, value))


# ---------------------------------------------------------------------------------------------------
# Refusals, each with its code and the dotted path of the field
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAYLOAD_REQUIRED)
def test_each_required_payload_field_missing_is_refused(name):
    assert_rejected(mutated(f"payload.{name}"), "SCHEMA_MISSING", f"payload.{name}")


@pytest.mark.parametrize("name", PAYLOAD_OPTIONAL)
def test_each_optional_payload_field_may_be_left_out(name):
    validate_envelope(mutated(f"payload.{name}"))


@pytest.mark.parametrize(
    "path",
    [
        "format",
        "payload",
        "signature",
        "signature.alg",
        "signature.key_id",
        "signature.value",
        "payload.faults[1].code",
        "payload.faults[1].at",
        "payload.faults[1].severity",
        "payload.thermal_events[0].started_at",
        "payload.thermal_events[0].max_temp_c",
        "payload.thermal_events[0].kind",
        "payload.vehicle.location.lat",
        "payload.vehicle.location.lon",
    ],
)
def test_missing_required_field_is_refused_with_its_path(path):
    assert_rejected(mutated(path), "SCHEMA_MISSING", path)


@pytest.mark.parametrize(
    "path",
    [
        "extra",
        "payload.extra",
        "payload.faults[1].extra",
        "payload.thermal_events[0].extra",
        "payload.vehicle.extra",
        "payload.vehicle.owner.extra",
        "payload.vehicle.location.altitude",
        "signature.extra",
        "payload.alarms.smoke_detected",
    ],
)
def test_unknown_field_is_refused_at_every_level(path):
    assert_rejected(mutated(path, True), "SCHEMA_UNKNOWN_FIELD", path)


def test_unknown_field_with_an_unusual_name_gets_a_quoted_path():
    assert_rejected(
        mutated("payload", {**BASE["payload"], "soc pct": 1}), "SCHEMA_UNKNOWN_FIELD", 'payload["soc pct"]'
    )


def test_unknown_field_is_reported_before_a_missing_one():
    document = mutated("payload.soc_pct")
    document["payload"]["state_of_charge"] = 61.5
    assert_rejected(document, "SCHEMA_UNKNOWN_FIELD", "payload.state_of_charge")


NUMERIC_PATHS = [
    "payload.sequence",
    "payload.soc_pct",
    "payload.soh_pct",
    "payload.cycle_count",
    "payload.throughput_kwh",
    "payload.pack_voltage_v",
    "payload.cell_voltages_v[3]",
    "payload.cell_voltage_min_v",
    "payload.cell_voltage_max_v",
    "payload.cell_temp_min_c",
    "payload.cell_temp_max_c",
    "payload.insulation_resistance_kohm",
    "payload.faults[1].severity",
    "payload.thermal_events[0].max_temp_c",
    "payload.vehicle.location.lat",
    "payload.vehicle.location.lon",
]


@pytest.mark.parametrize("path", NUMERIC_PATHS)
@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_never_accepted_as_numbers(path, value):
    assert_rejected(mutated(path, value), "SCHEMA_TYPE", path)


@pytest.mark.parametrize("path", NUMERIC_PATHS)
@pytest.mark.parametrize("value", [None, "61.5", [61.5], {"value": 61.5}])
def test_non_numbers_are_refused_where_numbers_are_expected(path, value):
    assert_rejected(mutated(path, value), "SCHEMA_TYPE", path)


@pytest.mark.parametrize("path", ["payload.cycle_count", "payload.sequence", "payload.faults[0].severity"])
@pytest.mark.parametrize("value", [812.0, 812.5, 2.0])
def test_fractional_or_float_values_are_refused_for_integer_fields(path, value):
    refused = assert_rejected(mutated(path, value), "SCHEMA_TYPE", path)
    assert "integer" in str(refused.message)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.soc_pct", -0.1),
        ("payload.soc_pct", 100.01),
        ("payload.soh_pct", -1),
        ("payload.soh_pct", 120.01),
        ("payload.cycle_count", -1),
        ("payload.cycle_count", 1_000_001),
        ("payload.sequence", -1),
        ("payload.sequence", 2**53),
        ("payload.throughput_kwh", -0.5),
        ("payload.throughput_kwh", 1e9),
        ("payload.pack_voltage_v", -1),
        ("payload.pack_voltage_v", 1500.1),
        ("payload.cell_voltages_v[95]", 6.01),
        ("payload.cell_voltages_v[0]", -0.001),
        ("payload.cell_voltage_min_v", -0.1),
        ("payload.cell_voltage_max_v", 6.5),
        ("payload.cell_temp_min_c", -60.5),
        ("payload.cell_temp_max_c", 200.5),
        ("payload.insulation_resistance_kohm", -1),
        ("payload.insulation_resistance_kohm", 1e12),
        ("payload.faults[1].severity", 0),
        ("payload.faults[1].severity", 6),
        ("payload.thermal_events[0].max_temp_c", 1200.5),
        ("payload.thermal_events[0].max_temp_c", -61),
        ("payload.vehicle.location.lat", 90.5),
        ("payload.vehicle.location.lon", -180.5),
        ("payload.soc_pct", 1e308),
        ("payload.soc_pct", 10**30),
        ("payload.soc_pct", float("nan")),
        ("payload.soh_pct", float("inf")),
    ],
)
def test_numbers_outside_their_range_are_refused(path, value):
    assert_rejected(mutated(path, value), "SCHEMA_RANGE", path)


def test_range_message_names_the_limits():
    refused = assert_rejected(mutated("payload.soc_pct", 101), "SCHEMA_RANGE", "payload.soc_pct")
    assert "0" in str(refused.message)
    assert "100" in str(refused.message)
    assert "101" in str(refused.message)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.battery_code", 123),
        ("payload.device_id", None),
        ("payload.captured_at", 1777622400),
        ("payload.faults[0].at", None),
        ("payload.faults[0].code", 42),
        ("payload.faults[0].text", None),
        ("payload.thermal_events[0].ended_at", None),
        ("payload.thermal_events[0].kind", 3),
        ("payload.cell_voltages_v", "3.3,3.3"),
        ("payload.cell_voltages_v", None),
        ("payload.alarms", ["over_temperature"]),
        ("payload.alarms.over_temperature", 1),
        ("payload.alarms.cell_overvoltage", "false"),
        ("payload.alarms.insulation_fault", None),
        ("payload.faults", {"code": "P0AA6"}),
        ("payload.faults[0]", "P0AA6"),
        ("payload.thermal_events", None),
        ("payload.thermal_events[0]", []),
        ("payload.soh_recalibrated", 1),
        ("payload.soh_recalibrated", "true"),
        ("payload.vehicle", "LFV2A21K8R3000123"),
        ("payload.vehicle.vin", 12345678901234567),
        ("payload.vehicle.imei", 356938035643809),
        ("payload.vehicle.owner", "张伟"),
        ("payload.vehicle.owner.phone", 8613800138000),
        ("payload.vehicle.location", [31.2, 121.4]),
        ("payload", [1, 2]),
        ("payload", None),
        ("signature", "c2lnbmF0dXJl"),
        ("signature.alg", None),
        ("signature.key_id", 7),
        ("signature.value", b"bytes"),
        ("format", 1),
    ],
)
def test_values_of_the_wrong_type_are_refused(path, value):
    assert_rejected(mutated(path, value), "SCHEMA_TYPE", path)


@pytest.mark.parametrize("document", [[], "envelope", None, 3, True])
def test_an_envelope_that_is_not_an_object_is_refused(document):
    assert_rejected(document, "SCHEMA_TYPE", None)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.battery_code", ""),
        ("payload.battery_code", "B" * 129),
        ("payload.device_id", ""),
        ("payload.device_id", "D" * 129),
        ("payload.cell_voltages_v", []),
        ("payload.cell_voltages_v", [3.3] * 1025),
        ("payload.faults[0].code", ""),
        ("payload.faults[0].code", "C" * 33),
        ("payload.faults[0].text", "t" * 501),
        ("payload.faults", [BASE["payload"]["faults"][0]] * 1001),
        ("payload.thermal_events", [BASE["payload"]["thermal_events"][0]] * 1001),
        ("payload.vehicle.vin", ""),
        ("payload.vehicle.vin", "V" * 33),
        ("payload.vehicle.plate", "P" * 33),
        ("payload.vehicle.sim_iccid", "8" * 33),
        ("payload.vehicle.imei", "3" * 33),
        ("payload.vehicle.owner.name", "名" * 201),
        ("payload.vehicle.owner.id_number", "1" * 65),
        ("payload.vehicle.owner.phone", "+" + "8" * 32),
    ],
)
def test_strings_and_lists_of_the_wrong_length_are_refused(path, value):
    assert_rejected(mutated(path, value), "SCHEMA_LENGTH", path)


def test_soh_recalibration_reason_length_is_limited():
    document = copy.deepcopy(BASE)
    document["payload"].update(soh_recalibrated=True, soh_recalibration_reason="r" * 501)
    assert_rejected(document, "SCHEMA_LENGTH", "payload.soh_recalibration_reason")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.battery_code", "A1B PB96LFP0001R3C0000123"),
        ("payload.battery_code", "A1BPB96LFP0001R3C000012３"),
        ("payload.device_id", "BMS\t1"),
        ("payload.device_id", "电池管理系统"),
        ("payload.faults[0].code", "P0A\x00A6"),
        ("payload.faults[0].text", "insulation\x1b[31m low"),
        ("payload.vehicle.plate", "沪A\x7fD12345"),
        ("payload.vehicle.owner.name", "Zhang\x00Wei"),
    ],
)
def test_identifiers_and_text_with_forbidden_characters_are_refused(path, value):
    assert_rejected(mutated(path, value), "SCHEMA_FORMAT", path)


@pytest.mark.parametrize(
    "path", ["payload.captured_at", "payload.faults[1].at", "payload.thermal_events[0].started_at"]
)
@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T08:00:00",
        "2026-05-01",
        "2026-05-01 08:00:00Z",
        "2026-05-01T08:00Z",
        "2026-05-01T08:00:00+0800",
        "2026-05-01T08:00:00+08",
        "2026-05-01T08:00:00.Z",
        "2026-05-01T08:00:00.1234567890Z",
        "20260501T080000Z",
        "2026-W18-5T08:00:00Z",
        "２０２６-05-01T08:00:00Z",
        "2026-05-01T08:00:00+24:00",
        "2026-05-01T08:00:00+05:60",
        "2026-02-30T08:00:00Z",
        "2026-05-01T24:00:00Z",
        "2026-05-01T08:00:60Z",
        "yesterday",
        "",
        " 2026-05-01T08:00:00Z",
        "2026-05-01T08:00:00Z\n",
    ],
)
def test_timestamps_that_are_not_strict_rfc3339_are_refused(path, text):
    assert_rejected(mutated(path, text), "SCHEMA_FORMAT", path)


@pytest.mark.parametrize(
    "text",
    [
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:30:00+01:00",
        "9999-12-31T23:00:00-05:00",
    ],
)
def test_timestamps_outside_the_supported_years_are_refused(text):
    assert_rejected(mutated("payload.captured_at", text), "SCHEMA_RANGE", "payload.captured_at")


def test_unknown_thermal_event_kind_is_refused():
    refused = assert_rejected(
        mutated("payload.thermal_events[0].kind", "spontaneous_combustion"),
        "SCHEMA_CHOICE",
        "payload.thermal_events[0].kind",
    )
    assert "thermal_runaway" in str(refused.message)


def test_cell_voltage_minimum_above_maximum_is_refused():
    document = mutated("payload.cell_voltages_v")
    document["payload"].update(cell_voltage_min_v=3.4, cell_voltage_max_v=3.3)
    assert_rejected(document, "SCHEMA_INCONSISTENT", "payload.cell_voltage_min_v")


def test_cell_temperature_minimum_above_maximum_is_refused():
    document = copy.deepcopy(BASE)
    document["payload"].update(cell_temp_min_c=30.0, cell_temp_max_c=25.0)
    assert_rejected(document, "SCHEMA_INCONSISTENT", "payload.cell_temp_min_c")


@pytest.mark.parametrize(
    ("name", "delta"),
    [("cell_voltage_min_v", -0.01), ("cell_voltage_max_v", 0.01), ("cell_voltage_max_v", -0.002)],
)
def test_reported_cell_extremes_must_be_those_of_the_cell_list(name, delta):
    document = copy.deepcopy(BASE)
    document["payload"][name] = round(document["payload"][name] + delta, 3)
    assert_rejected(document, "SCHEMA_INCONSISTENT", f"payload.{name}")


def test_reported_cell_extremes_may_differ_from_the_list_by_rounding():
    document = copy.deepcopy(BASE)
    document["payload"]["cell_voltage_min_v"] = round(document["payload"]["cell_voltage_min_v"] - 0.0009, 4)
    validate_envelope(document)


def test_thermal_event_ending_before_it_starts_is_refused():
    document = copy.deepcopy(BASE)
    event = document["payload"]["thermal_events"][0]
    event["ended_at"] = "2020-01-01T00:00:00Z"
    assert_rejected(document, "SCHEMA_INCONSISTENT", "payload.thermal_events[0].ended_at")


def test_recalibration_marker_without_reason_is_refused():
    assert_rejected(
        mutated("payload.soh_recalibrated", True), "SCHEMA_MISSING", "payload.soh_recalibration_reason"
    )


@pytest.mark.parametrize("marker", [REMOVE, False])
def test_recalibration_reason_without_marker_is_refused(marker):
    document = mutated("payload.soh_recalibration_reason", "capacity test")
    if marker is not REMOVE:
        document["payload"]["soh_recalibrated"] = marker
    assert_rejected(document, "SCHEMA_INCONSISTENT", "payload.soh_recalibration_reason")


@pytest.mark.parametrize(
    "value", ["voltrace.bms-snapshot/2", "voltrace.bms-snapshot/1 ", "", "VOLTRACE.BMS-SNAPSHOT/1"]
)
def test_unsupported_format_is_refused(value):
    assert_rejected(mutated("format", value), "UNSUPPORTED_FORMAT", "format")


def _ed25519_signature_text(length: int) -> str:
    return base64.b64encode((b"\xfb\xff\xbf" * 30)[:length]).decode()  # full of "+" and "/"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("signature.alg", "EdDSA"),
        ("signature.alg", "ed25519"),
        ("signature.alg", "ECDSA-P384"),
        ("signature.key_id", "ABCDEF" + "0" * 58),
        ("signature.key_id", "0" * 63),
        ("signature.key_id", "0" * 65),
        ("signature.key_id", "g" * 64),
        ("signature.key_id", ""),
        ("signature.value", ""),
        ("signature.value", "not base64!"),
        ("signature.value", _ed25519_signature_text(64).rstrip("=")),
        ("signature.value", _ed25519_signature_text(64).replace("+", "-").replace("/", "_")),
        ("signature.value", " " + _ed25519_signature_text(64)),
        ("signature.value", _ed25519_signature_text(64)[:40] + "\n" + _ed25519_signature_text(64)[40:]),
        ("signature.value", _ed25519_signature_text(63)),
        ("signature.value", _ed25519_signature_text(65)),
        ("signature.value", "A" * 101),
    ],
)
def test_malformed_signature_block_is_refused(path, value):
    assert_rejected(mutated(path, value), "SIGNATURE_MALFORMED", path)


def test_signature_base64_with_non_zero_padding_bits_is_refused():
    canonical = base64.b64encode(bytes(64)).decode()  # ends in "AA=="
    sloppy = canonical[:-3] + "B=="  # decodes to the same bytes
    assert base64.b64decode(sloppy) == bytes(64)
    assert_rejected(mutated("signature.value", sloppy), "SIGNATURE_MALFORMED", "signature.value")


@pytest.mark.parametrize(
    "signature",
    [
        bytes(64),  # an Ed25519-sized blob, not DER
        b"\x30\x06\x02\x01\x01\x02\x01",  # 7 bytes: too short
        b"\x30\x05\x02\x01\x01\x02\x01\x01",  # length byte does not cover the rest
        b"\x30" + bytes([71]) + bytes(71),  # 73 bytes: too long
    ],
)
def test_ecdsa_signature_that_is_not_a_der_sequence_of_the_right_size_is_refused(signature):
    document = mutated("signature.alg", "ECDSA-P256")
    document["signature"]["value"] = base64.b64encode(signature).decode()
    assert_rejected(document, "SIGNATURE_MALFORMED", "signature.value")


def test_refusal_is_an_invalid_input_domain_error_with_the_api_shape():
    document = copy.deepcopy(BASE)
    document["payload"]["faults"].append({"code": "X", "at": "2026-05-01T00:00:00Z", "severity": 9})
    refused = rejection(document)
    assert isinstance(refused, InvalidInput)
    assert refused.status_code == 400
    assert refused.as_dict() == {
        "code": "SCHEMA_RANGE",
        "message": str(refused.message),
        "field": "payload.faults[2].severity",
    }


def test_later_list_items_are_named_by_index():
    document = copy.deepcopy(BASE)
    document["payload"]["faults"] = document["payload"]["faults"] * 3
    document["payload"]["faults"][4] = {**document["payload"]["faults"][4], "severity": "high"}
    assert_rejected(document, "SCHEMA_TYPE", "payload.faults[4].severity")


def test_root_prefixes_every_field_path_for_batch_items():
    refused = rejection(mutated("payload.soc_pct", True), root="[3]")
    assert (refused.code, refused.field) == ("SCHEMA_TYPE", "[3].payload.soc_pct")
    refused = rejection(mutated("extra", 1), root="[0]")
    assert refused.field == "[0].extra"
    refused = rejection("not an object", root="[7]")
    assert refused.field == "[7]"


def test_format_is_checked_before_the_payload():
    document = mutated("format", "voltrace.bms-snapshot/9")
    document["payload"]["soc_pct"] = 500
    assert_rejected(document, "UNSUPPORTED_FORMAT", "format")


def test_payload_is_checked_before_the_signature():
    document = mutated("signature.alg", "RSA")
    document["payload"]["soc_pct"] = 500
    assert_rejected(document, "SCHEMA_RANGE", "payload.soc_pct")


# ---------------------------------------------------------------------------------------------------
# Parsing from bytes: the strict parser's refusals pass through with their code and path
# ---------------------------------------------------------------------------------------------------


def parse_rejection(raw: bytes, **kwargs: Any) -> SnapshotRejected:
    with pytest.raises(SnapshotRejected) as caught:
        parse_envelope(raw, **kwargs)
    return caught.value


def test_envelope_over_the_size_limit_is_refused_before_parsing():
    raw = envelope_bytes(BASE)
    refused = parse_rejection(raw, max_bytes=len(raw) - 1)
    assert (refused.code, refused.field) == ("TOO_LARGE", None)
    assert str(len(raw)) in str(refused.message)
    assert parse_envelope(raw, max_bytes=len(raw)).battery_code == DEFAULT_BATTERY_CODE


def test_absurdly_nested_envelope_is_refused():
    raw = b'{"format": "voltrace.bms-snapshot/1", "payload": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    refused = parse_rejection(raw)
    assert refused.code == "TOO_DEEP"


def test_nesting_beyond_the_envelope_depth_is_refused_even_inside_an_allowed_field():
    document = mutated("payload.vehicle.owner.name", [[[[["deep"]]]]])
    assert parse_rejection(envelope_bytes(document)).code == "TOO_DEEP"


def test_non_utf8_bytes_are_refused():
    assert parse_rejection(b'{"format": "\xff"}').code == "NOT_UTF8"


@pytest.mark.parametrize("raw", [b"", b"{", b'{"format": }', b"{'format': 1}", envelope_bytes(BASE) + b"x"])
def test_malformed_json_is_refused(raw):
    assert parse_rejection(raw).code == "MALFORMED_JSON"


def test_duplicate_key_is_refused_with_its_path():
    raw = envelope_bytes(BASE).replace(b'"soc_pct": 61.5', b'"soc_pct": 61.5, "soc_pct": 99.0')
    refused = parse_rejection(raw)
    assert (refused.code, refused.field) == ("DUPLICATE_KEY", "payload.soc_pct")


@pytest.mark.parametrize(
    ("literal", "code"),
    [
        (b"NaN", "NON_FINITE_NUMBER"),
        (b"Infinity", "NON_FINITE_NUMBER"),
        (b"-Infinity", "NON_FINITE_NUMBER"),
        (b"1e999", "NUMBER_OUT_OF_RANGE"),
        (b"123456789012345678901234567890", "NUMBER_OUT_OF_RANGE"),
    ],
)
def test_nan_and_huge_numbers_are_refused_with_their_path(literal, code):
    raw = envelope_bytes(BASE).replace(b'"soh_pct": 87.2', b'"soh_pct": ' + literal)
    refused = parse_rejection(raw)
    assert (refused.code, refused.field) == (code, "payload.soh_pct")


def test_lone_surrogate_is_refused_with_its_path():
    raw = envelope_bytes(BASE).replace(b'"device_id": "BMS-A1B-0000123"', b'"device_id": "BMS\\ud800"')
    refused = parse_rejection(raw)
    assert (refused.code, refused.field) == ("INVALID_UNICODE", "payload.device_id")


def test_parse_envelope_reports_schema_errors_after_parsing():
    raw = envelope_bytes(mutated("payload.cycle_count", True))
    refused = parse_rejection(raw)
    assert (refused.code, refused.field) == ("SCHEMA_TYPE", "payload.cycle_count")


# ---------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=8,
)
mutation_paths = st.sampled_from(
    [
        *(f"payload.{name}" for name in (*PAYLOAD_REQUIRED, *PAYLOAD_OPTIONAL)),
        "payload.soh_recalibrated",
        "payload.soh_recalibration_reason",
        "payload.cell_voltages_v[0]",
        "payload.alarms.over_temperature",
        "payload.faults[0]",
        "payload.faults[0].at",
        "payload.faults[1].severity",
        "payload.thermal_events[0].ended_at",
        "payload.vehicle.owner",
        "payload.vehicle.location.lat",
        "signature.value",
        "signature.alg",
        "format",
        "payload.unexpected",
    ]
)


def outcome(document: Any) -> SnapshotEnvelope | SnapshotRejected:
    """The envelope, or the refusal, without raising."""
    try:
        return validate_envelope(document)
    except SnapshotRejected as refused:
        return refused


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(path=mutation_paths, value=json_values)
def test_any_mutation_is_either_accepted_or_refused_with_a_code_and_field(path, value):
    document = mutated(path, value)
    result = outcome(document)
    if isinstance(result, SnapshotRejected):
        assert result.code
        assert result.field
        assert str(result.message)
    else:
        assert result.payload is document["payload"]


@given(value=st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.none()))
def test_soc_is_accepted_exactly_when_it_is_a_number_from_0_to_100(value):
    expected = type(value) in (int, float) and 0 <= value <= 100
    result = outcome(mutated("payload.soc_pct", value))
    if expected:
        assert result.soc_pct == value
    else:
        assert isinstance(result, SnapshotRejected)
        assert result.field == "payload.soc_pct"


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)
    ),
    offset_minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
def test_any_rfc3339_moment_reads_back_as_the_same_instant(moment, offset_minutes):
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.isoformat(timespec="microseconds")
    envelope = validate_envelope(mutated("payload.captured_at", text))
    assert envelope.captured_at == moment


@settings(max_examples=200)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_parse_envelope_refuses_arbitrary_bytes_only_with_snapshot_rejected(raw):
    with pytest.raises(SnapshotRejected):
        parse_envelope(raw)


def test_envelope_survives_a_json_round_trip_unchanged():
    raw = envelope_bytes(BASE)
    assert json.loads(raw) == BASE
    assert parse_envelope(raw).payload == BASE["payload"]


# The fast inline checks for faults and thermal events must accept and refuse exactly what the
# field-by-field checks do (those also name the field); both are compared on the same items.

timestamps = st.sampled_from(
    [
        "2026-04-30T10:00:00Z",
        "2026-04-30T18:00:00+08:00",
        "2026-04-28t10:00:00z",
        "2026-02-30T10:00:00Z",
        "soon",
    ]
)
loose_values = st.none() | st.booleans() | st.integers(-2, 2000) | st.floats(-100, 1300) | st.text(max_size=3)


@st.composite
def items(draw: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Mostly well-formed items: each field usually valid, sometimes wrong, missing or joined by an extra."""
    item = {}
    for name, valid in fields.items():
        if draw(st.integers(0, 9)) == 0:
            continue
        item[name] = draw(valid if draw(st.integers(0, 3)) else loose_values)
    if draw(st.integers(0, 9)) == 0:
        item["extra"] = 1
    return item


fault_items = items(
    {
        "code": st.sampled_from(["P0AA6", "U0111", "C" * 32, "", "C" * 33, "bad\x00code"]),
        "at": timestamps,
        "severity": st.integers(0, 6),
        "text": st.sampled_from(["", "fine text\n", "t" * 500, "t" * 501, "escape\x1b"]),
    }
)
thermal_items = items(
    {
        "started_at": timestamps,
        "ended_at": timestamps,
        "max_temp_c": st.floats(-61, 1201) | st.integers(-61, 1201),
        "kind": st.sampled_from([*sorted(THERMAL_EVENT_KINDS), "meltdown"]),
    }
)


def _outcome_of(check: Any) -> Any:
    try:
        return check()
    except SnapshotRejected as refused:
        return (refused.code, refused.field)


@settings(max_examples=400)
@given(item=fault_items)
def test_fault_fast_path_agrees_with_the_field_checks(item):
    fast = _outcome_of(lambda: schema._faults([item], "")[0])
    checked = _outcome_of(lambda: schema._checked_fault(item, "payload.faults[0]", ""))
    assert fast == checked


@settings(max_examples=400)
@given(item=thermal_items)
def test_thermal_event_fast_path_agrees_with_the_field_checks(item):
    fast = _outcome_of(lambda: schema._thermal_events([item], "")[0])
    checked = _outcome_of(lambda: schema._checked_thermal_event(item, "payload.thermal_events[0]", ""))
    assert fast == checked
