"""The signed BMS history document (`voltrace.bms-history/1`): sign with the log key, verify offline.

`{"format": "voltrace.bms-history/1", "payload": <the history>, "verification": <how to check it>,
"signature": {...}}`, signed with the platform's log key (the key that signs transparency-log
checkpoints, published at /api/v1/log/public-key) by the rule every signed document follows
(`custody.signed_document`): Ed25519 over the RFC 8785 canonical bytes of the document without
`signature`. Verifying needs only the standard library, `cryptography`, `core.canonical`,
`custody.checkpoint` and `custody.signed_document`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import canonicalize
from custody.checkpoint import VerifierKey
from custody.signed_document import SignedDocumentError, sign_document, verify_document

FORMAT = "voltrace.bms-history/1"
VERIFICATION = (
    "Remove `signature`, serialise the rest of this document (format, payload and this text) as RFC 8785 "
    "(JCS) canonical JSON, and verify `signature.value` (base64, Ed25519) over those bytes with the "
    "Voltrace log key, obtained independently from /api/v1/log/public-key: `signature.public_key_b64` "
    "must be its `public_key`, `signature.vkey` its `vkey`. Timestamps are given to the day. Snapshot "
    "entries carry each device signature and payload hash as recorded; the sealed payloads themselves "
    "(with the vehicle block) are not part of this document."
)


@dataclass(frozen=True)
class SignedHistory:
    """A signed document, its bytes as served, the SHA-256 of its canonical payload and the C2SP key ID
    of the key that signed it."""

    document: dict[str, Any]
    content: bytes
    payload_sha256: str
    key_id: str

    @classmethod
    def of(cls, document: dict[str, Any]) -> SignedHistory:
        """A signed document as served: the canonical form of the whole document."""
        return cls(
            document=document,
            content=canonicalize(document),
            payload_sha256=hashlib.sha256(canonicalize(document["payload"])).hexdigest(),
            key_id=document["signature"]["key_id"],
        )


def history_body(payload: dict[str, Any]) -> dict[str, Any]:
    """What the signature covers: the kind, the history and how to verify it."""
    return {"format": FORMAT, "payload": payload, "verification": VERIFICATION}


def sign_history(
    payload: dict[str, Any], *, private_key: Ed25519PrivateKey, key: VerifierKey
) -> SignedHistory:
    """The history signed with `private_key` (the log key; `key` is its verifier key)."""
    return SignedHistory.of(sign_document(history_body(payload), private_key=private_key, key=key))


def verify_history(document: Any, vkey: str | VerifierKey) -> None:
    """Raise SignedDocumentError unless `document` is a BMS history signed by
    `vkey` (the log's verifier key, obtained independently) and has a payload."""
    verify_document(document, vkey, kind=FORMAT)
    if not isinstance(document.get("payload"), dict):
        raise SignedDocumentError("the history has no `payload` object", code="malformed")
