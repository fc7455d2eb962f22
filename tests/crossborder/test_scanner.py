"""The release scanner: every kind is found in JSON, CSV and free text, nested or not, across chunk
boundaries; look-alikes (hashes, pseudonyms, measurements) are not; a hit or an unreadable file blocks."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from accounts.models import Notification
from crossborder import scanner, scrub
from crossborder.errors import ExportBlocked
from crossborder.models import ExportLogEntry
from tests.crossborder import identifiers as ids
from tests.snapshot_builders import lfp_payload


def kinds(text: str) -> list[str]:
    return [hit.kind for hit in scanner.scan_text(text)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (ids.VIN, "vin"),
        (ids.VIN_WITH_X, "vin"),
        ("1HGCM82633A004352", "vin"),
        (ids.PLATE, "cn_plate"),
        (ids.PLATE_PLAIN, "cn_plate"),
        ("沪A·D12345", "cn_plate"),
        ("粤B 12345", "cn_plate"),
        ("川A12345D", "cn_plate"),
        ('"\\u7ca4B\\u00b7D12345"', "cn_plate"),  # JSON written with ensure_ascii
        (ids.MOBILE, "cn_mobile"),
        (ids.MOBILE_FORMATTED, "cn_mobile"),
        ("+8613912345678", "cn_mobile"),
        ("008613912345678", "cn_mobile"),
        ("电话139-1234-5678。", "cn_mobile"),
        (ids.RESIDENT_ID, "cn_resident_id"),
        (ids.RESIDENT_ID_X, "cn_resident_id"),
        (ids.RESIDENT_ID_X.lower(), "cn_resident_id"),
        (ids.COORDINATES, "coordinates"),
        ("31.2304N, 121.4737E", "coordinates"),
        ("[121.4737, 31.2304]", "coordinates"),  # GeoJSON order
        ('{"lat": 31.2304, "lng": 121.4737}', "coordinates"),
        ('{"longitude": "-122.4194", "latitude": "37.7749"}', "coordinates"),
        ("lat=-33.8688;lon=151.2093", "coordinates"),
    ],
)
def test_scan_text_finds_each_kind(text, kind):
    assert kinds(f"before {text} after") == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "LSVAG2180E2100001",  # wrong check character
        "12345678901234567",  # digits only
        "LSVAG2186E21000012",  # 18 characters
        "lsvag2186e2100001",  # VINs are upper case
        "京A1234",  # too short
        "京AABCDE",  # not enough digits
        "京A123456",  # six characters that are not a new-energy serial
        "139123456789",  # mobile inside a longer run
        "23912345678",  # not 1[3-9]
        "x13912345678",  # glued to letters, as inside a hash
        "440304198511208735",  # wrong check character
        "440304198513208731",  # month 13
        "440304209911208736",  # born in the future
        "3.2811, 3.2972",  # voltages with 4 decimals: no, they are in range... see below
        "31.23, 121.47",  # too coarse
        "0.1234, 0.5678",  # fractions
        "91.2304, 181.4737",  # out of range both ways
        "2026-03-04T08:00:00Z",
        "A1BPB96LFP0001R3C0000123",  # a battery code
    ],
)
def test_scan_text_ignores_look_alikes(text):
    if text == "3.2811, 3.2972":
        # Two high-precision values in range are treated as a place: fail closed (documented).
        assert kinds(text) == ["coordinates"]
        return
    assert kinds(text) == []


def test_hashes_and_pseudonyms_never_hit():
    for number in range(3000):
        digest = hashlib.sha256(str(number).encode()).hexdigest()
        text = f"{digest} {digest.upper()} {scrub.pseudonym(str(number))} sha256:{digest}"
        assert scanner.scan_text(text) == [], text


def test_hits_carry_line_column_and_a_masked_form_only():
    text = f"first line\n  vin: {ids.VIN}\nphone {ids.MOBILE}"
    vin, mobile = scanner.scan_text(text)
    assert (vin.kind, vin.line, vin.column, vin.location) == ("vin", 2, 8, "2:8")
    assert vin.masked == "LSV*************1"
    assert (mobile.line, mobile.column) == (3, 7)
    assert ids.MOBILE not in repr(mobile)


def _planted_record() -> dict:
    """A BMS payload with identifiers in nested fields and in free-text notes."""
    payload = lfp_payload()
    payload["vehicle"]["vin"] = ids.VIN
    payload["faults"][0]["text"] = f"Driver called from {ids.MOBILE} about the warning light"
    payload["service"] = {
        "history": [{"workshop": "Shenzhen", "notes": f"Owner ID {ids.RESIDENT_ID}, plate {ids.PLATE_PLAIN}"}]
    }
    payload["route"] = [[121.4737, 31.2304], [121.4801, 31.2299]]
    return payload


def test_identifiers_planted_in_nested_json_are_caught():
    found = {
        hit.kind for hit in scanner.scan_text(json.dumps(_planted_record(), ensure_ascii=False, indent=2))
    }
    assert found == {"vin", "cn_plate", "cn_mobile", "cn_resident_id", "coordinates"}
    found_ascii = {hit.kind for hit in scanner.scan_text(json.dumps(_planted_record()))}
    assert found_ascii == found


def test_identifiers_planted_in_csv_and_text_are_caught(tmp_path: Path):
    rows = [
        {
            "battery": "A1BPB96LFP0001R3C0000123",
            "soh": "87.2",
            "remarks": f"buyer phone {ids.MOBILE_FORMATTED}",
        },
        {"battery": "A1BPB96LFP0002R3C0000124", "soh": "80.1", "remarks": f"at {ids.COORDINATES}"},
        {"battery": "A1BPB96LFP0003R3C0000125", "soh": "79.9", "remarks": f"车牌{ids.PLATE}"},
    ]
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    hits = scanner.scan_file(path)
    assert [(hit.kind, hit.line) for hit in hits] == [("cn_mobile", 2), ("coordinates", 3), ("cn_plate", 4)]
    note = tmp_path / "note.txt"
    note.write_text(f"Inspection notes\n\nVehicle {ids.VIN_WITH_X} belongs to ID {ids.RESIDENT_ID_X}.\n")
    assert [hit.kind for hit in scanner.scan_file(str(note))] == ["vin", "cn_resident_id"]


def test_scan_file_streams_in_chunks_and_finds_hits_across_boundaries(monkeypatch):
    monkeypatch.setattr(scanner, "CHUNK_BYTES", 64)
    filler = "x" * 61
    text = "\n".join(
        f"{filler[: index % 61]} {value} é"
        for index, value in enumerate([ids.VIN, ids.MOBILE, ids.PLATE, ids.RESIDENT_ID, ids.COORDINATES] * 40)
    )
    whole = [(hit.kind, hit.line, hit.column) for hit in scanner.scan_text(text)]
    streamed = [
        (hit.kind, hit.line, hit.column)
        for hit in scanner.scan_file(io.BytesIO(text.encode()), max_hits=None)
    ]
    assert len(whole) == 200
    assert streamed == whole


def test_scan_file_reads_utf16_and_refuses_binary_or_other_encodings():
    assert [hit.kind for hit in scanner.scan_file(io.BytesIO(f"tel {ids.MOBILE}".encode("utf-16")))] == [
        "cn_mobile"
    ]
    with pytest.raises(scanner.ScanError):
        scanner.scan_file(io.BytesIO(f"车牌 {ids.PLATE}".encode("gbk")))
    with pytest.raises(scanner.ScanError):
        scanner.scan_file(io.BytesIO(b"%PDF-1.7\x00\x01\x02 stream"))


# ---------------------------------------------------------------------------------------------------
# Release
# ---------------------------------------------------------------------------------------------------
def _release(path, user, recipient):
    return scanner.release(
        path=path,
        user=user,
        recipient=recipient,
        data_jurisdiction="CN",
        channel="anonymised_export",
        subject="history of 2 batteries",
        purpose="Buyer's data-history request",
    )


@pytest.mark.django_db
def test_release_blocks_a_file_with_an_identifier_and_alerts(
    tmp_path, recycler_admin, recycler_operator, buyer_org, django_user_model
):
    root = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    path = tmp_path / "history.json"
    path.write_text(json.dumps(_planted_record(), ensure_ascii=False, indent=1))
    with pytest.raises(ExportBlocked) as blocked:
        _release(path, recycler_operator, buyer_org)
    error = blocked.value
    assert error.code == "EXPORT_BLOCKED_IDENTIFIER"
    assert error.status_code == 422
    assert "VIN" in str(error.message)
    assert "line" in str(error.message)
    entry = ExportLogEntry.objects.get()
    assert entry == error.entry
    assert (entry.outcome, entry.scanned, entry.organisation) == (
        "blocked",
        True,
        recycler_admin.organisation,
    )
    assert set(entry.scan["kinds"]) == {"vin", "cn_plate", "cn_mobile", "cn_resident_id", "coordinates"}
    stored = json.dumps(entry.scan) + entry.message
    for value in (ids.VIN, ids.MOBILE, ids.RESIDENT_ID, "D12345", "31.2304", "LSV*"):
        assert value not in stored
    alerted = set(Notification.objects.values_list("recipient__username", flat=True))
    assert alerted == {recycler_admin.username, root.username}


@pytest.mark.django_db
def test_release_fails_closed_on_an_unreadable_file_or_a_scanner_fault(
    tmp_path, recycler_operator, buyer_org, monkeypatch
):
    with pytest.raises(ExportBlocked) as missing:
        _release(tmp_path / "missing.json", recycler_operator, buyer_org)
    assert missing.value.code == "EXPORT_SCAN_FAILED"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n\x00\xff binary")
    with pytest.raises(ExportBlocked):
        _release(pdf, recycler_operator, buyer_org)

    def broken(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(scanner, "scan_source", broken)
    clean = tmp_path / "clean.json"
    clean.write_text("{}")
    with pytest.raises(ExportBlocked):
        _release(clean, recycler_operator, buyer_org)
    assert (
        list(ExportLogEntry.objects.values_list("outcome", "code")) == [("blocked", "EXPORT_SCAN_FAILED")] * 3
    )


@pytest.mark.django_db
def test_release_logs_a_clean_file_and_returns_its_entry(tmp_path, recycler_operator, buyer_org):
    path = tmp_path / "history.json"
    path.write_text(json.dumps(scrub.anonymise_record(_planted_record()), ensure_ascii=False))
    entry = _release(path, recycler_operator, buyer_org)
    assert (entry.outcome, entry.scanned, entry.scan["hits"]) == ("not_required", True, 0)
    assert entry.scan["bytes"] == path.stat().st_size
