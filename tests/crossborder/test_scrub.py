"""Anonymisation: personal fields gone by key in every spelling, times coarsened to the day, battery codes
replaced by a stable keyed hash, and the scrubbed record passes the release scanner."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from crossborder import scanner, scrub
from tests.crossborder import identifiers as ids
from tests.crossborder.test_scanner import _planted_record
from tests.snapshot_builders import DEFAULT_BATTERY_CODE, lfp_payload


def test_pseudonym_is_a_stable_keyed_hash(settings):
    first = scrub.pseudonym(DEFAULT_BATTERY_CODE)
    assert first == scrub.pseudonym(f" {DEFAULT_BATTERY_CODE} ")
    assert first.startswith("anon:")
    assert len(first) == len("anon:") + 64
    assert first != scrub.pseudonym("A1BPB96LFP0002R3C0000124")
    settings.PSEUDONYM_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMzJi"
    assert scrub.pseudonym(DEFAULT_BATTERY_CODE) != first
    settings.PSEUDONYM_KEY = "c2hvcnQ="
    with pytest.raises(ImproperlyConfigured):
        scrub.pseudonym(DEFAULT_BATTERY_CODE)


@pytest.mark.parametrize(
    "key",
    [
        "vin", "VIN", "vehicleVin", "vehicle_vin", "plate", "licencePlate", "plate_no", "PlateNumber",
        "owner", "ownerName", "owner_id_number", "ownerPhone", "phone", "mobile", "contact_phone",
        "driver_name", "address", "homeAddress", "location", "lat", "lng", "gpsLatitude", "gps",
        "sim_iccid", "ICCID", "imsi", "imei", "deviceIMEI", "notes", "Comment", "remarks",
        "id_number", "residentId", "idCard", "postcode",
    ],
)  # fmt: skip
def test_personal_keys_are_recognised_in_every_spelling(key):
    assert scrub.is_personal_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "battery_code",
        "soh_pct",
        "cycle_count",
        "device_id",
        "drivingMode",
        "model_name",
        "code",
        "text",
        "captured_at",
    ],
)
def test_ordinary_keys_are_kept(key):
    assert not scrub.is_personal_key(key)


def test_anonymise_record_scrubs_a_payload_so_that_it_passes_the_scanner():
    record = _planted_record()
    record["parent"] = "A1BPB96LFP0009R3C0000131"
    record["children"] = ["A1BPM96LFP0010R3C0000132"]
    record["moved"] = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    record["made"] = date(2024, 1, 10)
    record["log"] = f"Shelf 4: {DEFAULT_BATTERY_CODE} checked"
    assert scanner.scan_text(json.dumps(record, ensure_ascii=False, default=str))
    scrubbed = scrub.anonymise_record(record)
    text = json.dumps(scrubbed, ensure_ascii=False)
    assert scanner.scan_text(text) == []
    assert "owner" not in scrubbed["vehicle"]
    assert "vin" not in scrubbed["vehicle"]
    assert scrubbed["vehicle"] == {}  # every field of the vehicle block is personal
    assert "route" not in scrubbed
    assert "notes" not in scrubbed["service"]["history"][0]
    assert scrubbed["battery_code"] == scrub.pseudonym(DEFAULT_BATTERY_CODE)
    assert scrubbed["parent"] == scrub.pseudonym("A1BPB96LFP0009R3C0000131")
    assert scrubbed["children"] == [scrub.pseudonym("A1BPM96LFP0010R3C0000132")]
    assert scrubbed["log"] == f"Shelf 4: {scrub.pseudonym(DEFAULT_BATTERY_CODE)} checked"
    assert scrubbed["captured_at"] == "2026-05-01"
    assert scrubbed["moved"] == "2026-03-04"
    assert scrubbed["made"] == "2024-01-10"
    assert all(len(fault["at"]) == 10 for fault in scrubbed["faults"])
    assert "[removed]" in scrubbed["faults"][0]["text"]  # the mobile number in free text
    for value in (ids.VIN, ids.MOBILE, ids.RESIDENT_ID, ids.PLATE_PLAIN, DEFAULT_BATTERY_CODE, "张伟"):
        assert value not in text
    assert scrubbed["soh_pct"] == record["soh_pct"]
    assert scrubbed["cell_voltages_v"] == record["cell_voltages_v"]


def test_anonymise_record_leaves_the_input_alone_and_keeps_fault_codes():
    record = lfp_payload(faults=1)
    record["faults"][0]["code"] = "P0A80"
    before = json.dumps(record, sort_keys=True)
    scrubbed = scrub.anonymise_record(record)
    assert json.dumps(record, sort_keys=True) == before
    assert scrubbed["faults"][0]["code"] == "P0A80"


def test_a_caller_may_say_what_a_battery_code_is():
    scrubbed = scrub.anonymise_record(
        {"code": "HNC-LOCAL-7", "other": "x"}, is_battery_code=lambda value: value.startswith("HNC")
    )
    assert scrubbed == {"code": scrub.pseudonym("HNC-LOCAL-7"), "other": "x"}


def test_gs1_codes_and_timestamp_offsets():
    scrubbed = scrub.anonymise_record(
        {
            "code": "010950600013435721ABC123",
            "link": "https://id.example/01/09506000134357/21/ABC123",
            "at": "2026-03-04T01:00:00+08:00",
        }
    )
    assert scrubbed["code"].startswith("anon:")
    assert scrubbed["link"].startswith("anon:")
    assert scrubbed["at"] == "2026-03-03"  # the UTC day
