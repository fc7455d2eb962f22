"""The event body is exactly the bundle contract's, and its hash is SHA-256 of its RFC 8785 bytes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

from core.canonical import canonicalize
from custody.events.body import BodyInput, event_body, fingerprint, instant, mass_text, seal


def _body(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "type": "intake",
        "subject_kind": "battery",
        "subject_code": "HNCPBAB1234567T2M0000001",
        "seq": 3,
        "prev_hash": b"\xab" * 32,
        "occurred_at": datetime(2026, 5, 1, 8, 0, 0, 999, tzinfo=UTC),
        "recorded_at": datetime(2026, 5, 1, 8, 0, 3, tzinfo=UTC),
        "actor": "GreenCycle",
        "actor_id": 7,
        "facility_id": 3,
        "activity": "intake",
        "licence_id": 12,
        "licence_status": "active",
        "snapshots": ["bb" * 32, "aa" * 32],
        "inputs": [],
        "data": {"note": ""},
    }
    fields.update(changes)
    return event_body(**fields)


def test_event_body_has_the_contract_fields_and_formats():
    body = _body(inputs=[BodyInput("battery", "HNCPBAB1234567T2M0000001", b"\x01" * 32, Decimal("12.5"))])
    assert set(body) == {
        "v", "type", "subject", "seq", "prev_hash", "occurred_at", "recorded_at", "actor", "actor_id",
        "facility_id", "activity", "licence_id", "licence_status", "snapshots", "inputs", "data",
    }  # fmt: skip
    assert body["v"] == 1
    assert body["subject"] == {"kind": "battery", "code": "HNCPBAB1234567T2M0000001"}
    assert body["prev_hash"] == "ab" * 32
    assert body["occurred_at"] == "2026-05-01T08:00:00Z"
    assert body["snapshots"] == ["aa" * 32, "bb" * 32]
    assert body["inputs"] == [
        {"kind": "battery", "code": "HNCPBAB1234567T2M0000001", "event_hash": "01" * 32, "mass_kg": "12.500"}
    ]


def test_event_body_of_a_first_event_has_a_null_prev_hash_and_no_licence():
    body = _body(seq=0, prev_hash=None, activity=None, licence_id=None, licence_status=None, facility_id=None)
    assert body["prev_hash"] is None
    assert body["activity"] is None
    assert body["licence_status"] is None


def test_seal_hashes_the_canonical_text_it_returns():
    body = _body()
    text, digest = seal(body)
    assert text.encode() == canonicalize(json.loads(text))
    assert digest == hashlib.sha256(text.encode()).digest()


def test_fingerprint_depends_on_operation_and_fields():
    assert fingerprint("intake", {"code": "X"}) == fingerprint("intake", {"code": "X"})
    assert fingerprint("intake", {"code": "X"}) != fingerprint("graded", {"code": "X"})
    assert fingerprint("intake", {"code": "X"}) != fingerprint("intake", {"code": "Y"})


def test_instants_and_masses_are_written_one_way():
    assert instant(datetime(2026, 5, 1, 10, 0, tzinfo=UTC)) == "2026-05-01T10:00:00Z"
    assert mass_text(Decimal("7")) == "7.000"
    assert mass_text(None) is None
