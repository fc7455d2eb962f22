"""JSON documents signed with the platform's log key: one rule for every kind the platform hands out
(report manifests, BMS histories, compliance reports).

A signed document is a JSON object that names its kind in `format` (e.g. "voltrace.report-manifest/1")
and carries a `signature` member: Ed25519, by the log key (the key that signs transparency-log
checkpoints), over the RFC 8785 canonical bytes of the document without `signature`. `format` is among
the signed bytes, so a signature made for one kind of document cannot be passed off as another.

    "signature": {"alg": "Ed25519", "key_name": <C2SP key name>, "key_id": <C2SP key ID, hex>,
                  "vkey": <C2SP verifier key>, "public_key_b64": <raw 32-byte key, base64>,
                  "value": <64-byte signature, base64>}

The key named in the document is a convenience: a verifier takes the log key from an independent source
(`GET /api/v1/log/public-key`, or a checkpoint it trusts) and refuses a document signed by another.

Standard library, `cryptography`, `core.canonical` and `custody.checkpoint` only: offline verifiers
(`python -m reports.manifest`) import this with no Django and no database. Messages are plain English.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.canonical import canonicalize
from custody.checkpoint import NoteError, VerifierKey, parse_vkey

ALGORITHM = "Ed25519"
SIGNATURE = "signature"
_SIGNATURE_SIZE = 64


class SignedDocumentError(ValueError):
    """A signed document does not verify; `code` says which check failed, the message how.

    Codes: `key` (the key given is no verifier key), `malformed`, `format` (another kind of document),
    `unsigned`, `algorithm`, `other_key` (signed by another key than the one given), `signature`.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What the signature covers: the RFC 8785 bytes of the document without its `signature`."""
    return canonicalize({name: value for name, value in document.items() if name != SIGNATURE})


def sign_document(
    body: dict[str, Any], *, private_key: Ed25519PrivateKey, key: VerifierKey
) -> dict[str, Any]:
    """`body` with its `signature` member. `key` is the verifier key of `private_key` (its name and ID go
    into the signature); a body must name its kind in `format` and must not be signed already."""
    if not isinstance(body.get("format"), str) or not body["format"]:
        raise ValueError("a signed document names its kind in a `format` member")
    if SIGNATURE in body:
        raise ValueError("the document already has a `signature` member")
    if private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) != key.public_key:
        raise ValueError(f"the private key is not the key of {key.vkey}")
    value = private_key.sign(signed_bytes(body))
    return {
        **body,
        SIGNATURE: {
            "alg": ALGORITHM,
            "key_name": key.name,
            "key_id": key.key_id.hex(),
            "vkey": key.vkey,
            "public_key_b64": base64.b64encode(key.public_key).decode("ascii"),
            "value": base64.b64encode(value).decode("ascii"),
        },
    }


def _decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise SignedDocumentError(f"{what} must be base64 text", code="malformed")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SignedDocumentError(f"{what} is not valid base64", code="malformed") from None


def _trusted(vkey: str | VerifierKey) -> VerifierKey:
    if isinstance(vkey, VerifierKey):
        return vkey
    try:
        return parse_vkey(vkey)
    except NoteError as exc:
        raise SignedDocumentError(f"the key given is not a C2SP verifier key: {exc}", code="key") from None


def verify_document(document: Any, vkey: str | VerifierKey, *, kind: str | None = None) -> None:
    """Raise SignedDocumentError unless `document` is signed by `vkey` (the log key, obtained
    independently) and, when `kind` is given, is a document of that kind (its `format`)."""
    trusted = _trusted(vkey)
    if not isinstance(document, dict):
        raise SignedDocumentError("the document is not a JSON object", code="malformed")
    named = document.get("format")
    if not isinstance(named, str):
        raise SignedDocumentError("the document names no kind (no `format` member)", code="malformed")
    if kind is not None and named != kind:
        raise SignedDocumentError(f"the document is a {named!r}, not a {kind!r}", code="format")
    signature = document.get(SIGNATURE)
    if signature is None:
        raise SignedDocumentError("the document is not signed (no `signature` member)", code="unsigned")
    if not isinstance(signature, dict):
        raise SignedDocumentError("`signature` is not a JSON object", code="malformed")
    if signature.get("alg") != ALGORITHM:
        raise SignedDocumentError(
            f"signature.alg is {signature.get('alg')!r}, expected {ALGORITHM!r}", code="algorithm"
        )
    if _decode(signature.get("public_key_b64"), "signature.public_key_b64") != trusted.public_key:
        raise SignedDocumentError(
            f"the document was signed by another key ({signature.get('vkey')!r}) than the key given "
            f"({trusted.vkey})",
            code="other_key",
        )
    value = _decode(signature.get("value"), "signature.value")
    if len(value) != _SIGNATURE_SIZE:
        raise SignedDocumentError(
            f"signature.value has {len(value)} bytes, an Ed25519 signature has {_SIGNATURE_SIZE}",
            code="malformed",
        )
    try:
        message = signed_bytes(document)
    except ValueError as exc:
        raise SignedDocumentError(f"the document has no RFC 8785 form: {exc}", code="malformed") from None
    try:
        Ed25519PublicKey.from_public_bytes(trusted.public_key).verify(value, message)
    except InvalidSignature:
        raise SignedDocumentError(
            "the signature does not verify: the document was changed after it was signed", code="signature"
        ) from None
