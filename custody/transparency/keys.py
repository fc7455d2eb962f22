"""The platform's log key, read from settings: the Ed25519 seed signs checkpoints under LOG_ORIGIN, and
the documents the platform hands out (`custody.signed_document`)."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from custody.checkpoint import NoteError, NoteSigner
from custody.signed_document import sign_document


@lru_cache(maxsize=4)
def _key(seed_b64: str, origin: str) -> tuple[Ed25519PrivateKey, NoteSigner]:
    try:
        seed = base64.b64decode(seed_b64, validate=True)
        signer = NoteSigner.from_seed(origin, seed)
    except (binascii.Error, ValueError, NoteError) as exc:
        raise ImproperlyConfigured(
            f"LOG_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed and LOG_ORIGIN a key name: {exc}"
        ) from exc
    return Ed25519PrivateKey.from_private_bytes(seed), signer


def log_signer() -> NoteSigner:
    """The signer of this deployment's checkpoints (key name = origin = settings.LOG_ORIGIN)."""
    return _key(settings.LOG_SIGNING_KEY, settings.LOG_ORIGIN)[1]


def sign_with_log_key(body: dict[str, Any]) -> dict[str, Any]:
    """`body` (naming its kind in `format`) signed with the log key, as `custody.signed_document` says."""
    private_key, signer = _key(settings.LOG_SIGNING_KEY, settings.LOG_ORIGIN)
    return sign_document(body, private_key=private_key, key=signer.verifier)
