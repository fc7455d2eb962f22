"""Ed25519 (required) and ECDSA P-256 with SHA-256 (accepted): key loading, key ids, sign and verify.

Standard library and `cryptography` only, so the offline verifier can import it. PyNaCl, when installed,
verifies Ed25519 about 1.8x faster; both backends give the same answer on every input because the
inputs on which libsodium and OpenSSL disagree (small-order or non-canonical points) are refused here
before either library sees them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

try:
    from nacl.bindings import crypto_sign_open as _nacl_sign_open
    from nacl.exceptions import CryptoError as _NaclError
except ImportError:  # the offline verifier runs with cryptography alone
    _nacl_sign_open = None
    _NaclError = Exception

__all__ = [
    "ALGORITHMS",
    "ECDSA_P256",
    "ED25519",
    "KeyFormatError",
    "PrivateKey",
    "PublicKey",
    "algorithm_of",
    "ed25519_backend",
    "generate_private_key",
    "key_id",
    "load_public_key",
    "private_key_from_seed_b64",
    "public_key_b64",
    "public_key_pem",
    "raw_public_bytes",
    "sign",
    "verify_signature",
]

ED25519 = "Ed25519"
ECDSA_P256 = "ECDSA-P256"
ALGORITHMS = (ED25519, ECDSA_P256)
Algorithm = Literal["Ed25519", "ECDSA-P256"]

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class KeyFormatError(ValueError):
    """A public or private key that cannot be used, with what is wrong with it."""


# Ed25519 points that libsodium refuses and OpenSSL accepts: encodings of y >= p, and the points of small
# order (libsodium's list: the eight torsion points and two non-canonical aliases, seven encodings once
# the x sign bit is cleared). With a small-order public key, "signatures" that verify for any message
# can be made without any secret.
_FIELD_PRIME = 2**255 - 19
_SMALL_ORDER_POINTS = frozenset(
    bytes.fromhex(point)
    for point in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def _ed25519_point_acceptable(encoded: bytes) -> bool:
    masked = encoded[:31] + bytes((encoded[31] & 0x7F,))
    return masked not in _SMALL_ORDER_POINTS and int.from_bytes(masked, "little") < _FIELD_PRIME


def _decode_base64(text: str) -> bytes:
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)  # padding is often dropped, in the URL-safe alphabet especially
    try:
        if "-" in compact or "_" in compact:
            return base64.b64decode(compact, altchars=b"-_", validate=True)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("The key is neither PEM nor valid base64.") from None


def _checked(key: object) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PublicKey):
        if not _ed25519_point_acceptable(key.public_bytes_raw()):
            raise KeyFormatError("The Ed25519 public key is a weak (small-order or non-canonical) point.")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyFormatError(f"Elliptic curve {key.curve.name} is not accepted; use P-256 (secp256r1).")
        return key
    raise KeyFormatError(f"{type(key).__name__} keys are not accepted; use Ed25519 or ECDSA P-256.")


def load_public_key(text_or_bytes: str | bytes) -> PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo) or base64 (raw Ed25519, raw P-256 point, or DER)."""
    if isinstance(text_or_bytes, bytes | bytearray | memoryview):
        try:
            text = bytes(text_or_bytes).decode("ascii")
        except UnicodeDecodeError:
            raise KeyFormatError("The key must be PEM or base64 text, not binary.") from None
    elif isinstance(text_or_bytes, str):
        text = text_or_bytes
    else:
        raise KeyFormatError(f"A key must be text, not {type(text_or_bytes).__name__}.")
    text = text.strip()
    if not text:
        raise KeyFormatError("The key is empty.")
    if text.startswith("-----BEGIN"):
        if "PRIVATE KEY" in text.split("\n", 1)[0]:
            raise KeyFormatError("This is a private key; send only the public key.")
        try:
            return _checked(serialization.load_pem_public_key(text.encode("ascii")))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError(f"The PEM public key could not be read: {exc}") from None
    raw = _decode_base64(text)
    if len(raw) == 32:
        return _checked(ed25519.Ed25519PublicKey.from_public_bytes(raw))
    if (len(raw) == 65 and raw[0] == 0x04) or (len(raw) == 33 and raw[0] in (0x02, 0x03)):
        try:
            return _checked(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw))
        except ValueError:
            raise KeyFormatError("The P-256 public key is not a point on the curve.") from None
    try:
        return _checked(serialization.load_der_public_key(raw))
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormatError(
            f"A {len(raw)}-byte key is not accepted: expected 32 bytes (Ed25519), 65 or 33 bytes "
            "(P-256 uncompressed or compressed point), or a DER SubjectPublicKeyInfo."
        ) from None


def _public(key: PublicKey | PrivateKey) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        return key.public_key()
    return key


def algorithm_of(key: PublicKey | PrivateKey) -> Algorithm:
    """The signature algorithm a key belongs to: "Ed25519" or "ECDSA-P256"."""
    key = _public(key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ECDSA-P256"
    raise KeyFormatError(f"{type(key).__name__} keys are not accepted; use Ed25519 or ECDSA P-256.")


def raw_public_bytes(key: PublicKey | PrivateKey) -> bytes:
    """Ed25519: the 32 raw bytes; P-256: the 65-byte uncompressed X9.62 point."""
    key = _public(key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes_raw()
    algorithm_of(key)
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def key_id(key: PublicKey | PrivateKey) -> str:
    """Hex SHA-256 of the raw public key, as envelopes name their signing key."""
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()


def public_key_b64(key: PublicKey | PrivateKey) -> str:
    """Standard base64 of the raw public key (what load_public_key reads back)."""
    return base64.b64encode(raw_public_bytes(key)).decode("ascii")


def public_key_pem(key: PublicKey | PrivateKey) -> str:
    """The public key as a SubjectPublicKeyInfo PEM block."""
    return (
        _public(key)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def generate_private_key(alg: str = ED25519) -> PrivateKey:
    """A fresh private key for "Ed25519" or "ECDSA-P256"."""
    if alg == ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if alg == ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    raise KeyFormatError(f"Unknown algorithm {alg!r}; expected one of {', '.join(ALGORITHMS)}.")


def private_key_from_seed_b64(seed_b64: str) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 private key from the base64 of its 32-byte seed (the form settings hold)."""
    try:
        seed = base64.b64decode("".join(seed_b64.split()), validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raise KeyFormatError("The Ed25519 seed is not valid base64.") from None
    if len(seed) != 32:
        raise KeyFormatError(f"An Ed25519 seed is 32 bytes; this one is {len(seed)} bytes.")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def sign(private_key: PrivateKey, message: bytes) -> bytes:
    """Ed25519: the 64-byte signature; ECDSA P-256: a DER signature over SHA-256 of the message."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(message)
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        return private_key.sign(message, _ECDSA_SHA256)
    raise KeyFormatError(f"{type(private_key).__name__} keys cannot sign here; use Ed25519 or ECDSA P-256.")


def _verify_ed25519_cryptography(key: ed25519.Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _verify_ed25519_nacl(key: ed25519.Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    return _nacl_open(key.public_bytes_raw(), message, signature)


def _nacl_open(raw_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        _nacl_sign_open(signature + message, raw_key)  # type: ignore[misc]
    except _NaclError:
        return False
    return True


def ed25519_backend() -> str:
    """Which library verifies Ed25519 signatures in this process: "pynacl" or "cryptography"."""
    return "pynacl" if _nacl_sign_open is not None else "cryptography"


def verify_signature(key: PublicKey, message: bytes, signature: bytes, *, alg: str) -> bool:
    """True only if signature is valid for message under key and alg names the key's algorithm."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        if alg != ED25519 or len(signature) != 64:
            return False
        raw_key = key.public_bytes_raw()
        if not (_ed25519_point_acceptable(raw_key) and _ed25519_point_acceptable(signature[:32])):
            return False
        if _nacl_sign_open is not None:
            return _nacl_open(raw_key, message, signature)
        return _verify_ed25519_cryptography(key, message, signature)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        if alg != ECDSA_P256:
            return False
        try:
            key.verify(signature, message, _ECDSA_SHA256)
        except (InvalidSignature, ValueError):
            return False
        return True
    return False
