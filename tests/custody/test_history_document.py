"""The signed history document: the log key signs the canonical document; any change breaks it."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import canonicalize
from custody.checkpoint import NoteSigner
from custody.history.document import FORMAT, sign_history, verify_history
from custody.signed_document import SignedDocumentError


def _signer(seed: int = 7, name: str = "voltrace.example/log") -> tuple[Ed25519PrivateKey, NoteSigner]:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return key, NoteSigner(name, key)


def _sign(payload, seed: int = 7):
    key, signer = _signer(seed)
    return sign_history(payload, private_key=key, key=signer.verifier)


def test_sign_history_verifies_with_the_log_key_and_names_it():
    _key, signer = _signer()
    signed = _sign({"battery": {"code": "X"}, "soh": 87.5})
    document = json.loads(signed.content)
    assert document == signed.document
    assert signed.content == canonicalize(document)
    assert document["format"] == FORMAT
    assert set(document) == {"format", "payload", "verification", "signature"}
    assert document["signature"]["vkey"] == signer.verifier.vkey
    assert document["signature"]["key_id"] == signer.verifier.key_id.hex() == signed.key_id
    assert signed.payload_sha256 == hashlib.sha256(canonicalize(document["payload"])).hexdigest()
    assert "RFC 8785" in document["verification"]
    verify_history(document, signer.verifier.vkey)
    verify_history(document, signer.verifier)


def test_the_signature_covers_the_whole_document_as_the_verification_text_says():
    document = copy.deepcopy(_sign({"soh": 87.5}).document)
    signature = document.pop("signature")
    _key, signer = _signer()
    public_key = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32).public_key()
    assert base64.b64decode(signature["public_key_b64"]) == signer.verifier.public_key
    public_key.verify(base64.b64decode(signature["value"]), rfc8785.dumps(document))  # raises if wrong


def test_verify_history_refuses_a_changed_document_or_another_key():
    _key, signer = _signer()
    document = _sign({"soh": 87.5, "faults": []}).document
    changed = copy.deepcopy(document)
    changed["payload"]["soh"] = 97.5
    with pytest.raises(SignedDocumentError) as failed:
        verify_history(changed, signer.verifier)
    assert failed.value.code == "signature"
    reworded = copy.deepcopy(document)
    reworded["verification"] = "Trust it."
    with pytest.raises(SignedDocumentError):
        verify_history(reworded, signer.verifier)
    with pytest.raises(SignedDocumentError) as failed:
        verify_history(document, _signer(8)[1].verifier)
    assert failed.value.code == "other_key"
    with pytest.raises(SignedDocumentError) as failed:
        verify_history({"format": FORMAT}, signer.verifier)
    assert failed.value.code == "unsigned"
    with pytest.raises(SignedDocumentError) as failed:
        verify_history(document, "not a key")
    assert failed.value.code == "key"
