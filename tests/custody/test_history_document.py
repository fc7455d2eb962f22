"""The signed history document: the log key signs the canonical payload; any change breaks it."""

from __future__ import annotations

import copy
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import signing
from custody.checkpoint import parse_vkey, verify_note
from custody.history.document import FORMAT, sign_history, verify_history


def _key(seed: int = 7) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def test_sign_history_verifies_with_the_signing_key_and_names_it():
    key = _key()
    signed = sign_history({"battery": {"code": "X"}, "soh": 87.5}, key, key_name="voltrace.example/log")
    document = json.loads(signed.content)
    assert document["format"] == FORMAT
    assert document["signature"]["key_id"] == signing.key_id(key) == signed.key_id
    assert document["key"]["public_key_pem"] == signing.public_key_pem(key)
    assert "RFC 8785" in document["verification"]
    assert verify_history(document, signing.public_key_pem(key))


def test_verify_history_refuses_a_changed_payload_or_another_key():
    key = _key()
    document = sign_history({"soh": 87.5, "faults": []}, key, key_name="log").document
    changed = copy.deepcopy(document)
    changed["payload"]["soh"] = 97.5
    assert not verify_history(changed, signing.public_key_pem(key))
    assert not verify_history(document, signing.public_key_pem(_key(8)))
    assert not verify_history({"format": FORMAT}, signing.public_key_pem(key))
    assert not verify_history(document, "not a key")


def test_the_signed_note_names_the_payload_hash_and_verifies_with_the_log_verifier_key():
    key = _key()
    signed = sign_history({"soh": 87.5}, key, key_name="voltrace.example/log")
    document = signed.document
    note, signers = verify_note(document["signature"]["note"], [parse_vkey(document["key"]["vkey"])])
    assert note.text == f"{FORMAT}\nsha256 {signed.payload_sha256}\n"
    assert [signer.name for signer in signers] == ["voltrace.example/log"]
    other = sign_history({"soh": 97.5}, key, key_name="voltrace.example/log").document
    swapped = copy.deepcopy(document)
    swapped["signature"]["note"] = other["signature"]["note"]  # a valid note, but for another payload
    assert not verify_history(swapped, signing.public_key_pem(key))
