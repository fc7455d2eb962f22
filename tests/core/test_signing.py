"""Ed25519 and ECDSA P-256: key loading, key ids, signing and verification on both Ed25519 backends."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings

from core import signing
from core.canonical import canonicalize
from core.signing import (
    ECDSA_P256,
    ED25519,
    KeyFormatError,
    algorithm_of,
    generate_private_key,
    key_id,
    load_public_key,
    private_key_from_seed_b64,
    public_key_b64,
    public_key_pem,
    raw_public_bytes,
    sign,
    verify_signature,
)

VECTORS = (
    Path(__file__).resolve().parents[2].parent / "shared" / "refdata" / "w3c-vc-di-eddsa" / "TestVectors"
)
MESSAGE = b'{"battery_code":"03HPB0DA0001KDA5B0000123","soc_pct":61.5}'
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _multibase_bytes(text: str) -> bytes:
    """Decode a base58btc multibase string ("z..."), as the W3C vectors write keys and signatures."""
    assert text[0] == "z"
    number = 0
    for character in text[1:]:
        number = number * 58 + _BASE58.index(character)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    leading_zeros = len(text[1:]) - len(text[1:].lstrip("1"))
    return b"\x00" * leading_zeros + body


def _ed25519_public_from_multikey(text: str) -> bytes:
    decoded = _multibase_bytes(text)
    assert decoded[:2] == b"\xed\x01"  # multicodec ed25519-pub
    return decoded[2:]


def _ed25519_seed_from_multikey(text: str) -> bytes:
    decoded = _multibase_bytes(text)
    assert decoded[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return decoded[2:]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _flip(raw: bytes, index: int = 0) -> bytes:
    return raw[:index] + bytes((raw[index] ^ 0x01,)) + raw[index + 1 :]


# W3C Data Integrity EdDSA vectors


@pytest.fixture
def w3c_key_pair() -> dict[str, str]:
    return json.loads((VECTORS / "keyPair.json").read_text())


def test_w3c_eddsa_jcs_vector_verifies(w3c_key_pair):
    folder = VECTORS / "eddsa-jcs-2022"
    signed = json.loads((folder / "signedJCS.json").read_text())
    proof = signed.pop("proof")
    proof.pop("proofValue")
    # The canonical forms the suite hashes are RFC 8785 output, so our canonicalizer must reproduce them.
    assert canonicalize(proof) == (folder / "proofCanonJCS.txt").read_bytes()
    assert canonicalize(signed) == (folder / "canonDocJCS.txt").read_bytes()
    message = hashlib.sha256(canonicalize(proof)).digest() + hashlib.sha256(canonicalize(signed)).digest()
    assert message.hex() == (folder / "combinedHashJCS.txt").read_text().strip()
    signature = bytes.fromhex((folder / "sigHexJCS.txt").read_text().strip())
    assert _multibase_bytes((folder / "sigBTC58JCS.txt").read_text().strip()) == signature

    key = load_public_key(_b64(_ed25519_public_from_multikey(w3c_key_pair["publicKeyMultibase"])))
    assert algorithm_of(key) == ED25519
    assert verify_signature(key, message, signature, alg=ED25519)
    assert not verify_signature(key, _flip(message), signature, alg=ED25519)
    assert not verify_signature(key, message, _flip(signature, 40), alg=ED25519)


def test_w3c_eddsa_rdfc_vector_signature_verifies_over_its_combined_hash(w3c_key_pair):
    folder = VECTORS / "eddsa-rdfc-2022"
    document_hash = hashlib.sha256((folder / "canonDocDataInt.txt").read_bytes()).hexdigest()
    assert document_hash == (folder / "docHashDataInt.txt").read_text().strip()
    message = bytes.fromhex((folder / "combinedHashDataInt.txt").read_text().strip())
    signature = bytes.fromhex((folder / "sigHexDataInt.txt").read_text().strip())
    key = load_public_key(_b64(_ed25519_public_from_multikey(w3c_key_pair["publicKeyMultibase"])))
    assert verify_signature(key, message, signature, alg=ED25519)


def test_w3c_private_seed_reproduces_the_vector_signature(w3c_key_pair):
    folder = VECTORS / "eddsa-jcs-2022"
    private_key = private_key_from_seed_b64(
        _b64(_ed25519_seed_from_multikey(w3c_key_pair["privateKeyMultibase"]))
    )
    assert raw_public_bytes(private_key) == _ed25519_public_from_multikey(w3c_key_pair["publicKeyMultibase"])
    message = bytes.fromhex((folder / "combinedHashJCS.txt").read_text().strip())
    assert sign(private_key, message).hex() == (folder / "sigHexJCS.txt").read_text().strip()


def test_w3c_multi_key_pairs_derive_their_public_keys():
    pairs = json.loads((VECTORS / "proof-set-chain" / "multiKeyPairs.json").read_text())
    assert len(pairs) == 4
    for pair in pairs.values():
        private_key = private_key_from_seed_b64(
            _b64(_ed25519_seed_from_multikey(pair["privateKeyMultibase"]))
        )
        assert raw_public_bytes(private_key) == _ed25519_public_from_multikey(pair["publicKeyMultibase"])


# Round trips and key ids


@pytest.mark.parametrize("alg", [ED25519, ECDSA_P256])
def test_sign_then_verify_round_trips(alg):
    private_key = generate_private_key(alg)
    public_key = load_public_key(public_key_b64(private_key))
    signature = sign(private_key, MESSAGE)
    assert algorithm_of(public_key) == alg
    assert verify_signature(public_key, MESSAGE, signature, alg=alg)


@pytest.mark.parametrize("alg", [ED25519, ECDSA_P256])
def test_verify_signature_refuses_tampered_message_or_signature(alg):
    private_key = generate_private_key(alg)
    public_key = private_key.public_key()
    signature = sign(private_key, MESSAGE)
    assert not verify_signature(public_key, _flip(MESSAGE, 20), signature, alg=alg)
    assert not verify_signature(public_key, MESSAGE + b" ", signature, alg=alg)
    assert not verify_signature(public_key, MESSAGE, _flip(signature, len(signature) - 1), alg=alg)
    assert not verify_signature(public_key, MESSAGE, signature[:-1], alg=alg)
    assert not verify_signature(public_key, MESSAGE, b"", alg=alg)
    assert not verify_signature(public_key, MESSAGE, b"\x30\x00" + b"garbage" * 9, alg=alg)


def test_verify_signature_refuses_another_keys_signature():
    signature = sign(generate_private_key(ED25519), MESSAGE)
    assert not verify_signature(generate_private_key(ED25519).public_key(), MESSAGE, signature, alg=ED25519)


@pytest.mark.parametrize(
    ("alg", "claimed"), [(ED25519, ECDSA_P256), (ECDSA_P256, ED25519), (ED25519, "ed25519")]
)
def test_verify_signature_refuses_an_algorithm_that_does_not_match_the_key(alg, claimed):
    private_key = generate_private_key(alg)
    assert not verify_signature(private_key.public_key(), MESSAGE, sign(private_key, MESSAGE), alg=claimed)


@pytest.mark.parametrize("alg", [ED25519, ECDSA_P256])
def test_key_id_is_sha256_of_the_raw_public_key(alg):
    private_key = generate_private_key(alg)
    raw = raw_public_bytes(private_key)
    assert len(raw) == (32 if alg == ED25519 else 65)
    assert key_id(private_key) == hashlib.sha256(raw).hexdigest()
    assert key_id(private_key.public_key()) == key_id(load_public_key(public_key_pem(private_key)))


def test_p256_raw_public_bytes_are_the_uncompressed_point():
    private_key = generate_private_key(ECDSA_P256)
    assert raw_public_bytes(private_key)[0] == 0x04


@pytest.mark.parametrize("alg", [ED25519, ECDSA_P256])
def test_load_public_key_reads_every_accepted_form_to_the_same_key(alg):
    # Several keys, so the URL-safe alphabet's "-" and "_" and dropped padding all turn up.
    for _ in range(12):
        public_key = generate_private_key(alg).public_key()
        raw = raw_public_bytes(public_key)
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        forms: list[str | bytes] = [
            public_key_pem(public_key),
            public_key_pem(public_key).encode(),
            public_key_b64(public_key),
            public_key_b64(public_key).encode(),
            "  " + public_key_b64(public_key) + "\n",
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode(),
            _b64(der),
        ]
        if alg == ECDSA_P256:
            compressed = public_key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
            )
            forms.append(_b64(compressed))
        for form in forms:
            assert key_id(load_public_key(form)) == key_id(public_key), form


def test_private_key_from_seed_b64_reads_the_log_signing_key_setting():
    private_key = private_key_from_seed_b64(settings.LOG_SIGNING_KEY)
    assert verify_signature(private_key.public_key(), MESSAGE, sign(private_key, MESSAGE), alg=ED25519)


@pytest.mark.parametrize(
    ("seed", "words"),
    [("not base64!", "base64"), (_b64(b"\x01" * 31), "31 bytes"), (_b64(b"\x01" * 64), "64 bytes")],
)
def test_private_key_from_seed_b64_refuses_bad_seeds(seed, words):
    with pytest.raises(KeyFormatError, match=words):
        private_key_from_seed_b64(seed)


def test_generate_private_key_refuses_unknown_algorithms():
    with pytest.raises(KeyFormatError, match="Unknown algorithm"):
        generate_private_key("RSA")


# Malformed and refused keys


def _pem(private_key: object) -> str:
    return (
        private_key.public_key()
        .public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )


@pytest.mark.parametrize(
    ("key_text", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("not a key at all!", "neither PEM nor valid base64"),
        (_b64(b"\x07" * 31), "31-byte key is not accepted"),
        (_b64(b"\x04" + b"\x01" * 64), "not a point on the curve"),
        (_b64(b"\x02" + (1).to_bytes(32, "big")), "not a point on the curve"),
        (b"\xff\xfe\x00binary", "not binary"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "could not be read"),
        (
            ed25519.Ed25519PrivateKey.generate()
            .private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            .decode(),
            "private key",
        ),
        (_pem(ec.generate_private_key(ec.SECP384R1())), "secp384r1 is not accepted"),
        (_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "keys are not accepted"),
        (_b64(bytes(32)), "small-order"),
        (_b64(bytes((1,)) + bytes(31)), "small-order"),
        (_b64(b"\xef" + b"\xff" * 30 + b"\x7f"), "non-canonical"),
    ],
)
def test_load_public_key_refuses_malformed_keys_saying_what_is_wrong(key_text, words):
    with pytest.raises(KeyFormatError, match=words):
        load_public_key(key_text)


def test_load_public_key_refuses_non_text():
    with pytest.raises(KeyFormatError, match="must be text"):
        load_public_key(12345)  # type: ignore[arg-type]


# The two Ed25519 backends


def test_ed25519_backend_is_pynacl_when_installed():
    assert signing.ed25519_backend() == "pynacl"


def test_ed25519_backends_give_the_same_answers():
    cases = []
    for _ in range(25):
        private_key = generate_private_key(ED25519)
        public_key = private_key.public_key()
        message = MESSAGE + private_key.public_key().public_bytes_raw()
        signature = sign(private_key, message)
        cases += [
            (public_key, message, signature, True),
            (public_key, _flip(message, 3), signature, False),
            (public_key, message, _flip(signature, 5), False),
            (public_key, message, _flip(signature, 60), False),
            (generate_private_key(ED25519).public_key(), message, signature, False),
        ]
    for public_key, message, signature, expected in cases:
        assert signing._verify_ed25519_nacl(public_key, message, signature) is expected
        assert signing._verify_ed25519_cryptography(public_key, message, signature) is expected


def test_verify_signature_falls_back_to_cryptography_without_pynacl(monkeypatch):
    monkeypatch.setattr(signing, "_nacl_sign_open", None)
    assert signing.ed25519_backend() == "cryptography"
    private_key = generate_private_key(ED25519)
    signature = sign(private_key, MESSAGE)
    assert verify_signature(private_key.public_key(), MESSAGE, signature, alg=ED25519)
    assert not verify_signature(private_key.public_key(), _flip(MESSAGE), signature, alg=ED25519)


@pytest.mark.parametrize("use_pynacl", [True, False])
def test_verify_signature_refuses_the_small_order_key_forgery_on_both_backends(monkeypatch, use_pynacl):
    # With the identity point as public key, R = identity and S = 0 satisfy OpenSSL's check for ANY
    # message; libsodium refuses it. Refusing such points first keeps the two backends in agreement.
    identity = bytes((1,)) + bytes(31)
    weak_key = ed25519.Ed25519PublicKey.from_public_bytes(identity)
    forgery = identity + bytes(32)
    assert signing._verify_ed25519_cryptography(weak_key, b"any message", forgery)
    assert not signing._verify_ed25519_nacl(weak_key, b"any message", forgery)
    if not use_pynacl:
        monkeypatch.setattr(signing, "_nacl_sign_open", None)
    assert not verify_signature(weak_key, b"any message", forgery, alg=ED25519)


def test_verify_signature_refuses_a_small_order_r_on_an_honest_key():
    private_key = generate_private_key(ED25519)
    signature = bytes((1,)) + bytes(31) + sign(private_key, MESSAGE)[32:]
    assert not verify_signature(private_key.public_key(), MESSAGE, signature, alg=ED25519)
