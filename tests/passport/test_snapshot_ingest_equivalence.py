"""Every ingest shortcut refuses exactly what the plain path refuses.

The shortcuts: one strict parse of a whole array (split only when one item is refused), the C-encoder
canonicalisation fast path, PyNaCl verification, set-based lookups for a whole batch, one bulk insert.
The plain path here is written independently: each envelope parsed alone, canonicalised by the RFC 8785
reference writer, verified with `cryptography` directly, every lookup a query of its own. A corpus of
good, bad and randomly damaged envelopes must get the same verdict, item by item, from the batch, from
single-envelope requests and from this reference.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.db import transaction
from django.utils import timezone

from core import signing
from core.canonical import canonicalize, canonicalize_slow, sha256_hex
from core.errors import DomainError
from passport import codes
from passport import services as passport_services
from passport.models import AccessGrant, Battery, DeviceKey
from passport.selectors import key_valid_at
from passport.snapshots.ingest import documents_from_body, earliest_capture, ingest_documents
from passport.snapshots.models import Snapshot
from passport.snapshots.schema import SnapshotRejected, parse_envelope
from tests.conftest import register_test_device_key
from tests.factories import OrganisationFactory, lfp_battery
from tests.snapshot_builders import (
    OTHER_BATTERY_CODE,
    device_key,
    ecdsa_device_key,
    envelope_bytes,
    lfp_history,
    lfp_payload,
    sign_envelope,
)

pytestmark = pytest.mark.django_db
FOREIGN_CODE = "B2CPB96LFP0003R3C0000125"  # another OEM's battery, on which the uploader has no right


# ---------------------------------------------------------------------------------------------------
# The reference: one envelope at a time, nothing shared, nothing fast
# ---------------------------------------------------------------------------------------------------
def _verify_plainly(key: Any, message: bytes, signature: bytes, alg: str) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def reference_code(raw: bytes, organisation: Any, seen: set[Any]) -> str | None:
    """The refusal code of one envelope by the plain path, or None; `seen` holds earlier accepted items."""
    try:
        envelope = parse_envelope(raw)
    except SnapshotRejected as error:
        return error.code
    canonical = canonicalize_slow(envelope.payload)
    signature = envelope.signature
    key = DeviceKey.objects.filter(key_id=signature.key_id).first()
    if key is None:
        return "KEY_UNKNOWN"
    if key.purpose != "bms_device":
        return "KEY_PURPOSE"
    public_key = signing.load_public_key(key.public_key_pem)
    if signing.algorithm_of(public_key) != signature.alg:
        return "SIGNATURE_ALG_MISMATCH"
    if not _verify_plainly(public_key, canonical, signature.value_bytes, signature.alg):
        return "SIGNATURE_INVALID"
    captured_at = envelope.captured_at
    if not key_valid_at(key, captured_at):
        if captured_at < key.valid_from:
            return "KEY_NOT_YET_VALID"
        if key.valid_until is not None and captured_at >= key.valid_until:
            return "KEY_EXPIRED"
        return "KEY_REVOKED"
    if key.organisation_id != organisation.pk:
        return "KEY_NOT_OWNED"
    battery = Battery.objects.filter(code=codes.normalise(envelope.battery_code)).first()
    if battery is None:
        return "BATTERY_UNKNOWN"
    granted = AccessGrant.objects.live().filter(battery=battery, grantee=organisation).exists()
    if organisation.pk not in (battery.oem_id, battery.current_custodian_id) and not granted:
        return "NOT_ALLOWED_TO_REPORT"
    if captured_at > timezone.now() + timedelta(minutes=5):
        return "CAPTURED_IN_FUTURE"
    if captured_at < earliest_capture(battery.production_date):
        return "CAPTURED_BEFORE_PRODUCTION"
    payload_hash = sha256_hex(canonical)
    if Snapshot.objects.filter(payload_hash=payload_hash).exists() or payload_hash in seen:
        return "REPLAY"
    sequence = (key.pk, envelope.device_id, envelope.sequence)
    if envelope.sequence is not None:
        stored = Snapshot.objects.filter(
            device_key=key, device_id=envelope.device_id, sequence=envelope.sequence
        ).exists()
        if stored or sequence in seen:
            return "REPLAY_SEQUENCE"
        seen.add(sequence)
    seen.add(payload_hash)
    return None


# ---------------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------------
def _resign(envelope: dict[str, Any], key: Any) -> dict[str, Any]:
    """Sign over the reference writer's bytes, so the fast canonicaliser must agree to accept it."""
    value = signing.sign(key, canonicalize_slow(envelope["payload"]))
    envelope["signature"]["value"] = base64.b64encode(value).decode()
    return envelope


def corpus(pack: Any, now: datetime) -> list[bytes]:
    start = datetime(2025, 1, 6, tzinfo=UTC)
    good = lfp_history(6, start=start)
    items: list[bytes] = [envelope_bytes(sign_envelope(payload)) for payload in good]
    tampered = sign_envelope(good[0] | {"sequence": 100})
    tampered["payload"]["soc_pct"] = 12.5
    items.append(envelope_bytes(tampered))
    items.append(envelope_bytes(sign_envelope(lfp_payload(sequence=101), key=device_key(42))))
    items.append(
        envelope_bytes(
            sign_envelope(
                lfp_payload(sequence=102),
                alg="ECDSA-P256",
                value=base64.b64encode(b"0\x06\x02\x01\x01\x02\x01\x01").decode(),
            )
        )
    )
    items.append(
        envelope_bytes(sign_envelope(lfp_payload(sequence=103), key=device_key(5)))
    )  # registration key
    items.append(envelope_bytes(sign_envelope(lfp_payload(sequence=104), key=device_key(6))))  # revoked key
    items.append(envelope_bytes(sign_envelope(lfp_payload(sequence=105), key=device_key(2))))  # another org's
    items.append(envelope_bytes(sign_envelope(lfp_payload(sequence=106, battery_code=OTHER_BATTERY_CODE))))
    items.append(envelope_bytes(sign_envelope(lfp_payload(sequence=107, battery_code=pack.code.lower()))))
    items.append(envelope_bytes(sign_envelope(lfp_payload(sequence=108, battery_code=FOREIGN_CODE))))
    items.append(
        envelope_bytes(sign_envelope(lfp_payload(sequence=109, captured_at=now + timedelta(hours=2))))
    )
    items.append(
        envelope_bytes(sign_envelope(lfp_payload(sequence=110, captured_at=datetime(2020, 1, 1, tzinfo=UTC))))
    )
    items.append(envelope_bytes(sign_envelope(good[1])))  # replay within the corpus
    items.append(envelope_bytes(sign_envelope(good[2] | {"soc_pct": 44.4})))  # same device sequence
    items.append(envelope_bytes(sign_envelope(lfp_payload(sequence=111, colour="red"))))
    items.append(
        envelope_bytes(sign_envelope(lfp_payload(sequence=112))).replace(
            b'"soc_pct": 61.5', b'"soc_pct": NaN'
        )
    )
    items.append(
        envelope_bytes(sign_envelope(lfp_payload(sequence=113))).replace(
            b'"cycle_count": 812', b'"cycle_count": 99999999999999999999'
        )
    )
    items.append(
        envelope_bytes(sign_envelope(lfp_payload(sequence=114))).replace(
            b'"sequence": 114', b'"sequence": 114, "sequence": 114'
        )
    )
    items.append(b'{"format": "voltrace.bms-snapshot/1", "payload": ' + b"[" * 50 + b"]" * 50 + b"}")
    items.append(b"42")
    # Numbers where the fast canonicaliser must decline or agree exactly with the reference writer.
    odd = lfp_payload(sequence=115, captured_at=start + timedelta(days=40), throughput_kwh=1e-7, soc_pct=22.0)
    items.append(envelope_bytes(_resign(sign_envelope(odd), device_key(1))))
    ecdsa = lfp_payload(sequence=116, captured_at=start + timedelta(days=41), device_id="ECDSA-1")
    items.append(envelope_bytes(sign_envelope(ecdsa, key=ecdsa_device_key(3))))
    bad_ecdsa = sign_envelope(ecdsa | {"sequence": 117}, key=ecdsa_device_key(3))
    bad_ecdsa["payload"]["sequence"] = 118
    items.append(envelope_bytes(bad_ecdsa))
    owner = lfp_payload(sequence=119, captured_at=start + timedelta(days=42))
    owner["vehicle"]["owner"]["name"] = 'Zoë 𝄞 \u00e9\u0301 "quoted" \\ back'
    items.append(envelope_bytes(sign_envelope(owner)))
    # Random single-byte damage to a good envelope: whatever it breaks, all paths must agree.
    rng = random.Random(20260501)
    base = envelope_bytes(sign_envelope(lfp_payload(sequence=120, captured_at=start + timedelta(days=43))))
    for _ in range(30):
        position = rng.randrange(1, len(base))
        damaged = bytearray(base)
        damaged[position] = rng.choice(b'0123456789abcdefABCDEF"{}[],:. eE-+')
        items.append(bytes(damaged))
    return items


@pytest.fixture
def world(lfp_pack, oem_org, oem_admin, recycler_org, recycler_admin):
    register_test_device_key(oem_org, oem_admin, 1)
    passport_services.register_device_key(
        organisation=oem_org,
        by=oem_admin,
        public_key=signing.public_key_pem(ecdsa_device_key(3)),
        purpose="bms_device",
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    register_test_device_key(oem_org, oem_admin, 5, purpose="registration")
    revoked = register_test_device_key(oem_org, oem_admin, 6)
    passport_services.revoke_device_key(
        key=revoked, by=oem_admin, reason="lost", effective_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    register_test_device_key(recycler_org, recycler_admin, 2)
    lfp_battery(OrganisationFactory(name="Another OEM", kind="oem"), code=FOREIGN_CODE)
    return lfp_pack


def _is_json_value(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def _code(error: DomainError | None) -> str | None:
    return None if error is None else error.code


def _single(raw: bytes, organisation: Any, user: Any) -> str | None:
    try:
        documents, _as_list = documents_from_body(raw)
    except DomainError as error:
        return error.code
    (result,) = ingest_documents(documents, organisation=organisation, user=user)
    return _code(result.error)


def test_batch_single_and_reference_paths_agree_item_by_item(world, oem_org, oem_admin):
    items = corpus(world, timezone.now())
    # The batch, as one JSON array of every item that is still a JSON value (damage that breaks the
    # JSON itself would break the array around it: those are compared between the other two paths).
    in_batch = [index for index, raw in enumerate(items) if _is_json_value(raw)]
    body = b"[" + b",".join(items[index] for index in in_batch) + b"]"
    with transaction.atomic():
        try:
            documents, _as_list = documents_from_body(body)
        except DomainError as error:  # a damaged separator breaks the array itself: split it by hand
            pytest.fail(f"the corpus array should stay an array: {error.code}")
        results = ingest_documents(documents, organisation=oem_org, user=oem_admin)
        batch = dict(zip(in_batch, (_code(result.error) for result in results), strict=True))
        transaction.set_rollback(True)
    # The reference, one by one, remembering what it accepted.
    with transaction.atomic():
        seen: set[Any] = set()
        reference = [reference_code(raw, oem_org, seen) for raw in items]
        transaction.set_rollback(True)
    # Single-envelope requests, one after the other, storing as they go.
    singles = [_single(raw, oem_org, oem_admin) for raw in items]
    for index, raw in enumerate(items):
        assert reference[index] == singles[index], (index, raw[:200])
        if index in batch:
            assert batch[index] == reference[index], (index, raw[:200])
    assert len(batch) >= len(items) - 15
    assert reference.count(None) >= 8  # the good ones (and harmless damage) were accepted
    assert {"SIGNATURE_INVALID", "KEY_REVOKED", "REPLAY", "REPLAY_SEQUENCE", "NON_FINITE_NUMBER"} <= set(
        reference
    )


def test_fast_canonicalisation_matches_the_reference_for_every_stored_payload(world, oem_org, oem_admin):
    start = datetime(2025, 3, 1, tzinfo=UTC)
    payloads = [
        lfp_payload(
            sequence=n,
            seed=n,
            captured_at=start + timedelta(days=n),
            soc_pct=round(n * 3.3, 3),
            throughput_kwh=n * 1e-5,
        )
        for n in range(1, 25)
    ]
    for payload in payloads:
        assert canonicalize(payload) == canonicalize_slow(payload)
    results = ingest_documents([sign_envelope(p) for p in payloads], organisation=oem_org, user=oem_admin)
    assert all(result.stored for result in results)
    for result, payload in zip(results, payloads, strict=True):
        assert result.payload_hash == sha256_hex(canonicalize_slow(payload))


def test_pynacl_and_cryptography_agree_on_signatures(world):
    key = device_key(1)
    message = canonicalize(lfp_payload())
    good = signing.sign(key, message)
    public = key.public_key()
    rng = random.Random(7)
    for _ in range(200):
        signature = bytearray(good)
        signature[rng.randrange(64)] ^= 1 << rng.randrange(8)
        tampered = bytes(signature)
        assert signing.verify_signature(public, message, tampered, alg="Ed25519") == _verify_plainly(
            public, message, tampered, "Ed25519"
        )
    assert signing.verify_signature(public, message, good, alg="Ed25519")
    assert signing.ed25519_backend() == "pynacl"
    assert json.loads(message)["battery_code"] == world.code
