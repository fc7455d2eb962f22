"""The platform's log key, read from settings: the Ed25519 seed signs checkpoints under LOG_ORIGIN."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from custody.checkpoint import NoteError, NoteSigner


@lru_cache(maxsize=4)
def _signer(seed_b64: str, origin: str) -> NoteSigner:
    try:
        seed = base64.b64decode(seed_b64, validate=True)
        return NoteSigner.from_seed(origin, seed)
    except (binascii.Error, ValueError, NoteError) as exc:
        raise ImproperlyConfigured(
            f"LOG_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed and LOG_ORIGIN a key name: {exc}"
        ) from exc


def log_signer() -> NoteSigner:
    """The signer of this deployment's checkpoints (key name = origin = settings.LOG_ORIGIN)."""
    return _signer(settings.LOG_SIGNING_KEY, settings.LOG_ORIGIN)
