"""The signed BMS history document (`voltrace.bms-history/1`): sign with the log key, verify offline.

Shaped like a BMS snapshot envelope: `payload` is the history, `signature.value` is Ed25519 over the
RFC 8785 (JCS) canonical bytes of `payload`, made with the platform's log key (the key that signs
transparency-log checkpoints, published at /api/v1/log/public-key). `signature.note` says the same as a
C2SP signed note by that key over `voltrace.bms-history/1\nsha256 <hex>\n` (the SHA-256 of the same
bytes), the form the compliance report uses and `custody.checkpoint.verify_note` checks with the log's
verifier key. `key` repeats the public key for convenience; a verifier compares it with the published
one before trusting it. Verifying needs only the standard library, `cryptography`, `core.canonical` and
`custody.checkpoint`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from core.canonical import canonicalize
from custody.checkpoint import SIGNATURE_TYPE_ED25519, NoteError, NoteSigner, VerifierKey, verify_note

FORMAT = "voltrace.bms-history/1"
ALGORITHM = "Ed25519"
VERIFICATION = (
    "Take `payload`, serialise it as RFC 8785 (JCS) canonical JSON, and verify `signature.value` "
    "(base64, Ed25519) over those bytes with the Voltrace log key. Check first that `key.public_key_pem` "
    "(or `key.vkey`) is the key published at /api/v1/log/public-key; `signature.key_id` is the SHA-256 of "
    "its raw 32 bytes. Alternatively check `signature.note`, a C2SP signed note by the same key whose text "
    "names the SHA-256 of those canonical bytes. Timestamps are given to the day. Snapshot entries carry "
    "each device signature and payload hash as recorded; the sealed payloads themselves (with the "
    "vehicle block) are not part of this document."
)


@dataclass(frozen=True)
class SignedHistory:
    """A signed document, its bytes as served and the SHA-256 of its canonical payload."""

    document: dict[str, Any]
    content: bytes
    payload_sha256: str
    key_id: str


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _note_text(payload_sha256: str) -> str:
    return f"{FORMAT}\nsha256 {payload_sha256}\n"


def sign_history(payload: dict[str, Any], private_key: Ed25519PrivateKey, *, key_name: str) -> SignedHistory:
    """Wrap `payload` in the signed envelope; the served bytes are the canonical form of the envelope."""
    canonical = canonicalize(payload)
    payload_sha256 = hashlib.sha256(canonical).hexdigest()
    public = private_key.public_key()
    key_id = hashlib.sha256(_raw(public)).hexdigest()
    signer = NoteSigner(key_name, private_key)
    document = {
        "format": FORMAT,
        "payload": payload,
        "signature": {
            "alg": ALGORITHM,
            "key_id": key_id,
            "value": base64.b64encode(private_key.sign(canonical)).decode("ascii"),
            "note": signer.sign(_note_text(payload_sha256)),
        },
        "key": {
            "name": key_name,
            "vkey": signer.verifier.vkey,
            "public_key_pem": public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(
                "ascii"
            ),
        },
        "verification": VERIFICATION,
    }
    return SignedHistory(
        document=document,
        content=canonicalize(document),
        payload_sha256=payload_sha256,
        key_id=key_id,
    )


def verify_history(document: Any, public_key_pem: str) -> bool:
    """True when `document` is a history whose payload `public_key_pem` signed (the trusted log key),
    by its Ed25519 signature and, when present, its signed note."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return False
    signature = document.get("signature")
    payload = document.get("payload")
    if not isinstance(signature, dict) or signature.get("alg") != ALGORITHM or not isinstance(payload, dict):
        return False
    try:
        key = load_pem_public_key(public_key_pem.encode("ascii"))
        value = base64.b64decode(str(signature.get("value", "")), validate=True)
    except (ValueError, TypeError, binascii.Error):
        return False
    if (
        not isinstance(key, Ed25519PublicKey)
        or signature.get("key_id") != hashlib.sha256(_raw(key)).hexdigest()
    ):
        return False
    canonical = canonicalize(payload)
    try:
        key.verify(value, canonical)
    except (InvalidSignature, ValueError):
        return False
    note = signature.get("note")
    if note is None:
        return True
    name = (document.get("key") or {}).get("name")
    try:
        parsed, _signers = verify_note(
            str(note),
            [VerifierKey(name=str(name), signature_type=SIGNATURE_TYPE_ED25519, public_key=_raw(key))],
        )
    except NoteError:
        return False
    return parsed.text == _note_text(hashlib.sha256(canonical).hexdigest())
