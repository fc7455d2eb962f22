"""Envelope encryption of telemetry at rest: a fresh data key per record, wrapped by a key-encryption key.

Each record is encrypted with AES-256-GCM (or SM4-GCM) under its own random data key, with the record's
identity as associated data. The data key is stored wrapped by the current key-encryption key (KEK) from
`settings.KEY_ENCRYPTION_KEYS`, and the wrap is bound to the cipher, the KEK id and the same identity, so
a box moved to another record, or relabelled with another KEK id, fails to open. Rotating KEKs rewraps
the small data keys only; destroying a record's wrapped key crypto-shreds it.

Format (version 1): ciphertext = GCM(data key, nonce, plaintext, associated data = aad), tag appended.
wrapped_key = GCM(wrapping key, wrap_nonce, data key, associated data = b"voltrace.envelope.wrap/1" followed
by cipher name, KEK id and aad, each prefixed by its 4-byte big-endian length). The wrapping key is the
32-byte KEK for AES-256-GCM, and HKDF-SHA256(KEK, no salt, info=_SM4_WRAP_INFO, 16 bytes) for SM4-GCM.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from core.errors import DomainError

__all__ = [
    "AES_256_GCM",
    "CIPHERS",
    "SM4_GCM",
    "DecryptionError",
    "KeyRing",
    "SealedBox",
    "keyring",
    "open_box",
    "rewrap",
    "seal",
]

AES_256_GCM = "AES-256-GCM"
SM4_GCM = "SM4-GCM"
CIPHERS = (AES_256_GCM, SM4_GCM)
_DATA_KEY_BYTES = {AES_256_GCM: 32, SM4_GCM: 16}
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEK_BYTES = 32
_KEK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# Fixed HKDF info: an SM4 wrap uses a 16-byte subkey of the 32-byte KEK, never the KEK itself.
_SM4_WRAP_INFO = b"voltrace/envelope/kek-subkey/sm4-gcm/v1"


class DecryptionError(DomainError):
    """A sealed record that cannot be opened: unknown key, tampered data, or the wrong record."""

    default_code = "DECRYPTION_FAILED"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The key-encryption keys by id; the first one wraps new data keys."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ImproperlyConfigured("KEY_ENCRYPTION_KEYS must hold at least one key.")

    def __repr__(self) -> str:  # never print key material
        return f"KeyRing(ids={list(self.ids)!r}, current={self.current_id!r})"

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Read "id:base64,id2:base64" (the form of KEY_ENCRYPTION_KEYS); the first entry is current."""
        if not isinstance(text, str) or not text.strip():
            raise ImproperlyConfigured("KEY_ENCRYPTION_KEYS is empty; give at least one id:base64key entry.")
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(text.split(","), start=1):
            kek_id, separator, encoded = entry.strip().partition(":")
            kek_id, encoded = kek_id.strip(), encoded.strip()
            if not separator or not kek_id or not encoded:
                raise ImproperlyConfigured(
                    f"KEY_ENCRYPTION_KEYS entry {position} is not of the form id:base64key."
                )
            if not _KEK_ID.match(kek_id):
                raise ImproperlyConfigured(
                    f"KEY_ENCRYPTION_KEYS entry {position}: key id {kek_id!r} must be 1-64 letters, digits, "
                    "'.', '_' or '-', starting with a letter or digit."
                )
            try:
                secret = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ImproperlyConfigured(
                    f"KEY_ENCRYPTION_KEYS entry {position} ({kek_id}): the key is not valid base64."
                ) from None
            if len(secret) != _KEK_BYTES:
                raise ImproperlyConfigured(
                    f"KEY_ENCRYPTION_KEYS entry {position} ({kek_id}): the key is {len(secret)} bytes; "
                    f"each key must be exactly {_KEK_BYTES} bytes."
                )
            if any(existing == kek_id for existing, _secret in keys):
                raise ImproperlyConfigured(f"KEY_ENCRYPTION_KEYS names key id {kek_id!r} twice.")
            keys.append((kek_id, secret))
        return cls(tuple(keys))

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(kek_id for kek_id, _secret in self.keys)

    def __contains__(self, kek_id: object) -> bool:
        return any(existing == kek_id for existing, _secret in self.keys)

    def secret(self, kek_id: str) -> bytes:
        """The key-encryption key with this id; DecryptionError if the ring does not hold it."""
        for existing, secret in self.keys:
            if existing == kek_id:
                return secret
        raise DecryptionError(
            _("Key-encryption key %(kek_id)s is not configured; the record cannot be opened.")
            % {"kek_id": kek_id},
            code="DECRYPTION_FAILED",
        )


@lru_cache(maxsize=8)
def _ring_from(text: str) -> KeyRing:
    return KeyRing.parse(text)


def keyring() -> KeyRing:
    """The key ring configured in settings.KEY_ENCRYPTION_KEYS (cached per setting value)."""
    return _ring_from(settings.KEY_ENCRYPTION_KEYS)


@dataclass(frozen=True, slots=True)
class SealedBox:
    """An encrypted record: its ciphertext and the wrapped data key, as stored beside each other."""

    cipher: str
    kek_id: str
    wrapped_key: bytes
    wrap_nonce: bytes
    nonce: bytes
    ciphertext: bytes

    def to_fields(self, prefix: str = "") -> dict[str, str | bytes]:
        """Column values, e.g. for Model.objects.create(**box.to_fields("payload_"))."""
        return {
            f"{prefix}cipher": self.cipher,
            f"{prefix}kek_id": self.kek_id,
            f"{prefix}wrapped_key": self.wrapped_key,
            f"{prefix}wrap_nonce": self.wrap_nonce,
            f"{prefix}nonce": self.nonce,
            f"{prefix}ciphertext": self.ciphertext,
        }

    @classmethod
    def from_fields(cls, source: Mapping[str, Any] | object, prefix: str = "") -> SealedBox:
        """Rebuild from a mapping or a model instance holding the columns to_fields() wrote."""

        def column(name: str) -> Any:
            if isinstance(source, Mapping):
                return source[f"{prefix}{name}"]
            return getattr(source, f"{prefix}{name}")

        # PostgreSQL hands binary columns back as memoryview.
        return cls(
            cipher=str(column("cipher")),
            kek_id=str(column("kek_id")),
            wrapped_key=bytes(column("wrapped_key")),
            wrap_nonce=bytes(column("wrap_nonce")),
            nonce=bytes(column("nonce")),
            ciphertext=bytes(column("ciphertext")),
        )


def _framed(*parts: bytes) -> bytes:
    # Length-prefixed, so no two different (cipher, kek_id, aad) triples frame to the same bytes.
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _wrap_aad(cipher: str, kek_id: str, aad: bytes) -> bytes:
    return b"voltrace.envelope.wrap/1" + _framed(cipher.encode(), kek_id.encode(), aad)


def _sm4_unavailable() -> ImproperlyConfigured:
    return ImproperlyConfigured(
        "TELEMETRY_CIPHER is SM4-GCM but this build of cryptography/OpenSSL has no SM4; use AES-256-GCM."
    )


def _gcm_encrypt(cipher: str, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    if cipher == AES_256_GCM:
        return AESGCM(key).encrypt(nonce, plaintext, aad)
    try:
        encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    except UnsupportedAlgorithm:
        raise _sm4_unavailable() from None
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return body + encryptor.tag  # the same layout AESGCM uses: ciphertext then 16-byte tag


def _gcm_decrypt(cipher: str, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Plaintext, or InvalidTag when anything was altered."""
    if cipher == AES_256_GCM:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    if len(sealed) < _TAG_BYTES:
        raise InvalidTag
    try:
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-_TAG_BYTES:])).decryptor()
    except UnsupportedAlgorithm:
        raise _sm4_unavailable() from None
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(sealed[:-_TAG_BYTES]) + decryptor.finalize()


def _wrapping_key(cipher: str, kek: bytes) -> bytes:
    if cipher == AES_256_GCM:
        return kek
    return _sm4_wrapping_key(kek)


@lru_cache(maxsize=16)
def _sm4_wrapping_key(kek: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=_SM4_WRAP_INFO).derive(kek)


def _resolve_cipher(cipher: str | None) -> str:
    chosen = cipher if cipher is not None else settings.TELEMETRY_CIPHER
    if chosen not in CIPHERS:
        raise ImproperlyConfigured(
            f"Cipher {chosen!r} is not supported; TELEMETRY_CIPHER must be one of {CIPHERS}."
        )
    return chosen


def _wrap(data_key: bytes, *, cipher: str, kek_id: str, ring: KeyRing, aad: bytes) -> tuple[bytes, bytes]:
    wrap_nonce = os.urandom(_NONCE_BYTES)
    wrapping_key = _wrapping_key(cipher, ring.secret(kek_id))
    return _gcm_encrypt(
        cipher, wrapping_key, wrap_nonce, data_key, _wrap_aad(cipher, kek_id, aad)
    ), wrap_nonce


def _failed() -> DecryptionError:
    return DecryptionError(
        _("The encrypted record could not be opened: it was altered or belongs to another record."),
        code="DECRYPTION_FAILED",
    )


def _unwrap(box: SealedBox, *, aad: bytes, ring: KeyRing) -> bytes:
    if box.cipher not in CIPHERS:
        raise DecryptionError(
            _("The encrypted record names an unknown cipher %(cipher)s.") % {"cipher": box.cipher},
            code="DECRYPTION_FAILED",
        )
    key_bytes = _DATA_KEY_BYTES[box.cipher]
    if len(box.wrap_nonce) != _NONCE_BYTES or len(box.wrapped_key) != key_bytes + _TAG_BYTES:
        raise _failed()
    wrapping_key = _wrapping_key(box.cipher, ring.secret(box.kek_id))
    try:
        return _gcm_decrypt(
            box.cipher, wrapping_key, box.wrap_nonce, box.wrapped_key, _wrap_aad(box.cipher, box.kek_id, aad)
        )
    except InvalidTag:
        raise _failed() from None


def seal(
    plaintext: bytes, *, aad: bytes, cipher: str | None = None, ring: KeyRing | None = None
) -> SealedBox:
    """Encrypt one record under a fresh data key, bound to the record identity aad."""
    cipher = _resolve_cipher(cipher)
    ring = ring or keyring()
    data_key = os.urandom(_DATA_KEY_BYTES[cipher])
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = _gcm_encrypt(cipher, data_key, nonce, plaintext, aad)
    wrapped_key, wrap_nonce = _wrap(data_key, cipher=cipher, kek_id=ring.current_id, ring=ring, aad=aad)
    return SealedBox(
        cipher=cipher,
        kek_id=ring.current_id,
        wrapped_key=wrapped_key,
        wrap_nonce=wrap_nonce,
        nonce=nonce,
        ciphertext=ciphertext,
    )


def open_box(box: SealedBox, *, aad: bytes, ring: KeyRing | None = None) -> bytes:
    """Decrypt a record sealed for this aad; DecryptionError on any mismatch or alteration."""
    ring = ring or keyring()
    data_key = _unwrap(box, aad=aad, ring=ring)
    if len(box.nonce) != _NONCE_BYTES:
        raise _failed()
    try:
        return _gcm_decrypt(box.cipher, data_key, box.nonce, box.ciphertext, aad)
    except InvalidTag:
        raise _failed() from None


def rewrap(
    box: SealedBox, *, aad: bytes, ring: KeyRing | None = None, to_kek_id: str | None = None
) -> SealedBox:
    """The same record with its data key wrapped by the current (or given) KEK; ciphertext untouched."""
    ring = ring or keyring()
    target = to_kek_id or ring.current_id
    if target not in ring:
        raise ImproperlyConfigured(f"Key-encryption key {target!r} is not in KEY_ENCRYPTION_KEYS.")
    if box.kek_id == target:
        return box
    data_key = _unwrap(box, aad=aad, ring=ring)
    wrapped_key, wrap_nonce = _wrap(data_key, cipher=box.cipher, kek_id=target, ring=ring, aad=aad)
    return replace(box, kek_id=target, wrapped_key=wrapped_key, wrap_nonce=wrap_nonce)
