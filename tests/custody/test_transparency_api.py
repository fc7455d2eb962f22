"""The public log API (checkpoint, proofs, key) and the witness endpoints: statuses, shapes, permissions."""

from __future__ import annotations

import base64
import itertools
import os
import time
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.urls import reverse
from rest_framework.throttling import AnonRateThrottle

from custody.checkpoint import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    VerifierKey,
    parse_note,
    sign_cosignature,
    verify_checkpoint,
    verify_cosignatures,
)
from custody.merkle import leaf_hash, verify_consistency, verify_inclusion
from custody.models import Checkpoint, Cosignature, WitnessKey
from custody.transparency.services import enqueue_leaf, publish_checkpoint, sequence_pending

pytestmark = pytest.mark.django_db

CHECKPOINT = "/api/v1/log/checkpoint"
INCLUSION = "/api/v1/log/inclusion"
CONSISTENCY = "/api/v1/log/consistency"
PUBLIC_KEY = "/api/v1/log/public-key"
WITNESS_KEYS = "/api/v1/log/witness-keys"
COSIGN = "/api/v1/log/cosign"
_ADDRESSES = itertools.count(int(time.time()))


@pytest.fixture(autouse=True)
def _own_client_address(client, api_client) -> None:
    # Throttles count per client address: a test of our own starts with a full allowance, without
    # clearing a cache that may be shared (in CI it is the Redis database the broker uses too).
    address = f"198.51.100.{next(_ADDRESSES) % 250 + 1}"
    client.defaults["REMOTE_ADDR"] = address
    api_client.defaults["REMOTE_ADDR"] = address


@pytest.fixture
def hashes() -> list[bytes]:
    # The first hash's base64 has "+" and "/", which a query string must carry intact.
    hashes = [b"\xfb" * 32] + [os.urandom(32) for _ in range(10)]
    for event_hash in hashes:
        enqueue_leaf(event_hash=event_hash)
    sequence_pending()
    publish_checkpoint()
    return hashes


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _error(response) -> dict[str, str]:
    return response.json()["error"]


class Witness:
    def __init__(self) -> None:
        self.private_key = Ed25519PrivateKey.generate()
        self.key = VerifierKey(
            name="audit.test/w1",
            signature_type=SIGNATURE_TYPE_COSIGNATURE_V1,
            public_key=self.private_key.public_key().public_bytes_raw(),
        )

    def cosign(self, checkpoint: Checkpoint) -> str:
        return sign_cosignature(
            name=self.key.name,
            private_key=self.private_key,
            body=parse_note(checkpoint.note).text,
            timestamp=int(time.time()),
        )


def test_urls_are_named_under_the_log_namespace():
    assert reverse("custody-log:checkpoint-latest") == CHECKPOINT
    assert reverse("custody-log:inclusion-proof") == INCLUSION
    assert reverse("custody-log:cosignature-create") == COSIGN


# Checkpoint
def test_checkpoint_as_json_is_public(client, hashes):
    response = client.get(CHECKPOINT)
    assert response.status_code == 200
    body = response.json()
    checkpoint = Checkpoint.objects.get()
    assert body == {
        "origin": checkpoint.origin,
        "tree_size": 11,
        "root_hash": _b64(bytes(checkpoint.root_hash)),
        "timestamp": body["timestamp"],
        "note": checkpoint.note,
        "cosignatures": [],
    }
    key = client.get(PUBLIC_KEY).json()["vkey"]
    assert verify_checkpoint(body["note"], key).tree_size == 11


@pytest.mark.parametrize("how", ["accept", "format"])
def test_checkpoint_as_a_plain_text_note(client, hashes, how):
    if how == "accept":
        response = client.get(CHECKPOINT, HTTP_ACCEPT="text/plain")
    else:
        response = client.get(CHECKPOINT, {"format": "txt"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == Checkpoint.objects.get().note


def test_checkpoint_before_any_publication_is_not_found(client):
    response = client.get(CHECKPOINT)
    assert response.status_code == 404
    assert _error(response)["code"] == "LOG_NO_CHECKPOINT"
    text = client.get(CHECKPOINT, HTTP_ACCEPT="text/plain")
    assert text.status_code == 404
    assert text.content.decode().startswith("LOG_NO_CHECKPOINT: ")


# Inclusion
@pytest.mark.parametrize("encoding", ["hex", "base64", "base64-unencoded-plus", "base64url"])
def test_inclusion_proof_accepts_hex_and_base64_hashes(client, hashes, encoding):
    event_hash = hashes[0]
    assert "+" in _b64(event_hash)
    assert "/" in _b64(event_hash)
    encoded = {
        "hex": event_hash.hex(),
        "base64": quote(_b64(event_hash), safe=""),
        "base64-unencoded-plus": _b64(event_hash).replace("=", ""),
        "base64url": base64.urlsafe_b64encode(event_hash).decode().rstrip("="),
    }[encoding]
    response = client.get(f"{INCLUSION}?hash={encoded}&size=11")
    assert response.status_code == 200, response.content
    body = response.json()
    index = hashes.index(event_hash)
    assert (body["leaf_index"], body["tree_size"]) == (index, 11)
    assert body["event_hash"] == _b64(event_hash)
    assert body["leaf_hash"] == _b64(leaf_hash(event_hash))
    verify_inclusion(
        leaf=leaf_hash(event_hash),
        index=index,
        size=11,
        proof=[base64.b64decode(p) for p in body["inclusion_path"]],
        root=bytes(Checkpoint.objects.get().root_hash),
    )


def test_inclusion_proof_defaults_to_the_latest_checkpoint_size(client, hashes):
    body = client.get(INCLUSION, {"hash": hashes[4].hex()}).json()
    assert body["tree_size"] == 11
    assert body["root_hash"] == _b64(bytes(Checkpoint.objects.get().root_hash))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"hash": "zz"}, "hash"),
        ({"hash": "ab" * 31}, "hash"),
        ({"hash": _b64(b"x" * 31)}, "hash"),
        ({}, "hash"),
        ({"hash": "ab" * 32, "size": "ten"}, "size"),
        ({"hash": "ab" * 32, "size": "0"}, "size"),
    ],
)
def test_inclusion_proof_rejects_malformed_input_naming_the_field(client, hashes, query, field):
    response = client.get(INCLUSION, query)
    assert response.status_code == 400
    assert (_error(response)["code"], _error(response)["field"]) == ("INVALID_INPUT", field)


def test_inclusion_proof_of_an_unknown_hash_is_not_found(client, hashes):
    response = client.get(INCLUSION, {"hash": os.urandom(32).hex()})
    assert response.status_code == 404
    assert _error(response)["code"] == "LOG_HASH_NOT_FOUND"


def test_inclusion_proof_beyond_the_tree_is_unprocessable(client, hashes):
    response = client.get(INCLUSION, {"hash": hashes[0].hex(), "size": 12})
    assert response.status_code == 422
    assert (_error(response)["code"], _error(response)["field"]) == ("LOG_SIZE_BEYOND_TREE", "size")
    before = client.get(INCLUSION, {"hash": hashes[9].hex(), "size": 5})
    assert before.status_code == 422
    assert _error(before)["code"] == "LOG_LEAF_AFTER_SIZE"


# Consistency
def test_consistency_proof_verifies_between_two_sizes(client, hashes):
    response = client.get(CONSISTENCY, {"first": 4, "second": 11})
    assert response.status_code == 200
    body = response.json()
    verify_consistency(
        first=4,
        second=11,
        first_root=base64.b64decode(body["first_root"]),
        second_root=base64.b64decode(body["second_root"]),
        proof=[base64.b64decode(p) for p in body["consistency_path"]],
    )
    assert body["second_root"] == _b64(bytes(Checkpoint.objects.get().root_hash))


@pytest.mark.parametrize(
    ("query", "field"),
    [({"first": 0, "second": 3}, "first"), ({"first": 5, "second": 3}, "second"), ({"first": 2}, "second")],
)
def test_consistency_proof_rejects_malformed_sizes(client, hashes, query, field):
    response = client.get(CONSISTENCY, query)
    assert response.status_code == 400
    assert _error(response)["field"] == field


def test_consistency_proof_beyond_the_tree_is_unprocessable(client, hashes):
    response = client.get(CONSISTENCY, {"first": 2, "second": 12})
    assert response.status_code == 422
    assert (_error(response)["code"], _error(response)["field"]) == ("LOG_SIZE_BEYOND_TREE", "second")


# Public key
def test_public_key_as_vkey_and_pem(client, settings):
    body = client.get(PUBLIC_KEY).json()
    assert body["key_name"] == settings.LOG_ORIGIN
    assert body["algorithm"] == "Ed25519"
    assert body["vkey"].startswith(f"{settings.LOG_ORIGIN}+{body['key_id']}+")
    assert body["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(base64.b64decode(body["public_key"])) == 32


def test_public_endpoints_are_throttled(client, hashes, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    statuses = [client.get(PUBLIC_KEY).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# Witnesses
def test_register_witness_key_as_an_auditor_admin(api_as, auditor_admin, auditor_org):
    witness = Witness()
    response = api_as(auditor_admin).post(WITNESS_KEYS, {"vkey": witness.key.vkey})
    assert response.status_code == 201
    body = response.json()
    assert body["vkey"] == witness.key.vkey
    assert body["organisation"] == auditor_org.name
    assert WitnessKey.objects.get().organisation == auditor_org


def test_register_witness_key_errors(api_as, client, auditor_admin, recycler_admin):
    witness = Witness()
    assert client.post(WITNESS_KEYS, {"vkey": witness.key.vkey}).status_code == 401
    forbidden = api_as(recycler_admin).post(WITNESS_KEYS, {"vkey": witness.key.vkey})
    assert (forbidden.status_code, _error(forbidden)["code"]) == (403, "WITNESS_NOT_PERMITTED")
    malformed = api_as(auditor_admin).post(WITNESS_KEYS, {"vkey": "nonsense"})
    assert (malformed.status_code, _error(malformed)["field"]) == (400, "vkey")
    missing = api_as(auditor_admin).post(WITNESS_KEYS, {})
    assert (missing.status_code, _error(missing)["field"]) == (400, "vkey")
    api_as(auditor_admin).post(WITNESS_KEYS, {"vkey": witness.key.vkey})
    again = api_as(auditor_admin).post(WITNESS_KEYS, {"vkey": witness.key.vkey})
    assert (again.status_code, _error(again)["code"]) == (409, "WITNESS_KEY_EXISTS")


def test_cosign_then_the_checkpoint_carries_the_cosignature(api_as, client, auditor_admin, hashes):
    witness = Witness()
    api = api_as(auditor_admin)
    api.post(WITNESS_KEYS, {"vkey": witness.key.vkey})
    checkpoint = Checkpoint.objects.get()
    line = witness.cosign(checkpoint)
    response = api.post(COSIGN, {"checkpoint": checkpoint.note, "cosignature": line, "old_size": 0})
    assert response.status_code == 201, response.content
    assert response.json()["signature_line"] == line
    assert response.json()["previous_size"] == 0

    body = client.get(CHECKPOINT).json()
    assert body["cosignatures"] == [response.json()]
    assert body["cosignatures"][0]["vkey"] == witness.key.vkey
    note = client.get(CHECKPOINT, HTTP_ACCEPT="text/plain").content.decode()
    assert note == checkpoint.note + line + "\n"
    assert [c.timestamp for c in verify_cosignatures(note, [witness.key])] == [
        Cosignature.objects.get().timestamp
    ]
    verify_checkpoint(note, client.get(PUBLIC_KEY).json()["vkey"])


def test_cosign_with_a_consistency_path_from_the_last_cosigned_checkpoint(api_as, auditor_admin, hashes):
    witness = Witness()
    api = api_as(auditor_admin)
    api.post(WITNESS_KEYS, {"vkey": witness.key.vkey})
    first = Checkpoint.objects.get()
    api.post(COSIGN, {"checkpoint": first.note, "cosignature": witness.cosign(first), "old_size": 0})
    for _ in range(5):
        enqueue_leaf(event_hash=os.urandom(32))
    sequence_pending()
    second = publish_checkpoint()
    path = api.get(CONSISTENCY, {"first": 11, "second": 16}).json()["consistency_path"]
    response = api.post(
        COSIGN,
        {
            "checkpoint": second.note,
            "cosignature": witness.cosign(second),
            "old_size": 11,
            "consistency_path": path,
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["previous_size"] == 11

    bad_path = api.post(
        COSIGN,
        {
            "checkpoint": second.note,
            "cosignature": witness.cosign(second),
            "old_size": 11,
            "consistency_path": ["!"],
        },
    )
    assert bad_path.status_code == 400
    assert _error(bad_path)["field"].startswith("consistency_path")


def test_cosign_errors(api_as, auditor_admin, auditor, hashes):
    witness = Witness()
    api = api_as(auditor_admin)
    api.post(WITNESS_KEYS, {"vkey": witness.key.vkey})
    checkpoint = Checkpoint.objects.get()
    line = witness.cosign(checkpoint)

    stale = api.post(COSIGN, {"checkpoint": checkpoint.note, "cosignature": line, "old_size": 5})
    assert (stale.status_code, _error(stale)["code"]) == (409, "WITNESS_OLD_SIZE_MISMATCH")
    forged = api.post(
        COSIGN,
        {"checkpoint": checkpoint.note.replace("\n11\n", "\n12\n"), "cosignature": line, "old_size": 0},
    )
    assert (forged.status_code, _error(forged)["field"]) == (422, "checkpoint")
    unknown = api.post(
        COSIGN, {"checkpoint": checkpoint.note, "cosignature": Witness().cosign(checkpoint), "old_size": 0}
    )
    assert (unknown.status_code, _error(unknown)["code"]) == (404, "WITNESS_KEY_UNKNOWN")
    malformed = api.post(COSIGN, {"checkpoint": checkpoint.note, "cosignature": "not a line", "old_size": 0})
    assert (malformed.status_code, _error(malformed)["field"]) == (400, "cosignature")
    negative = api.post(COSIGN, {"checkpoint": checkpoint.note, "cosignature": line, "old_size": -1})
    assert (negative.status_code, _error(negative)["field"]) == (400, "old_size")
    viewer = api_as(auditor).post(COSIGN, {"checkpoint": checkpoint.note, "cosignature": line, "old_size": 0})
    assert viewer.status_code == 403
    assert Cosignature.objects.count() == 0


def test_schema_documents_the_log_endpoints_and_their_errors(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    inclusion = schema["paths"]["/api/v1/log/inclusion"]["get"]["responses"]
    assert {"200", "400", "404", "422", "429"} <= set(inclusion)
    cosign = schema["paths"]["/api/v1/log/cosign"]["post"]["responses"]
    assert {"201", "400", "403", "404", "409", "422"} <= set(cosign)
    checkpoint = schema["paths"]["/api/v1/log/checkpoint"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/plain"} <= set(checkpoint)
