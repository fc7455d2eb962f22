"""Envelope encryption of telemetry at rest: key ring, seal/open, tampering, moved records, rotation."""

from __future__ import annotations

import base64
import dataclasses
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

from core import envelope
from core.envelope import (
    AES_256_GCM,
    CIPHERS,
    SM4_GCM,
    DecryptionError,
    KeyRing,
    SealedBox,
    keyring,
    open_box,
    rewrap,
    seal,
)
from core.errors import DomainError

PAYLOAD = b'{"battery_code":"03HPB0DA0001KDA5B0000123","soc_pct":61.5,"vehicle":{"vin":"LSVAU2180N2183294"}}'
AAD = b"passport.snapshot:1842"
KEY_ONE = base64.b64encode(bytes(range(32))).decode()
KEY_TWO = base64.b64encode(bytes(range(100, 132))).decode()
KEY_THREE = base64.b64encode(b"\x42" * 32).decode()


@pytest.fixture
def ring_one() -> KeyRing:
    return KeyRing.parse(f"k1:{KEY_ONE}")


@pytest.fixture
def ring_rotated() -> KeyRing:
    return KeyRing.parse(f"k2:{KEY_TWO},k1:{KEY_ONE}")


def _flip(raw: bytes, index: int = 0) -> bytes:
    return raw[:index] + bytes((raw[index] ^ 0x01,)) + raw[index + 1 :]


# The key ring


def test_keyring_parse_takes_the_first_entry_as_current():
    ring = KeyRing.parse(f" k2:{KEY_TWO} , k1:{KEY_ONE}")
    assert ring.current_id == "k2"
    assert ring.ids == ("k2", "k1")
    assert "k1" in ring
    assert "k3" not in ring
    assert ring.secret("k1") == bytes(range(32))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (KEY_ONE, "not of the form id:base64key"),
        (f"k1:{KEY_ONE},", "entry 2 is not of the form"),
        (f":{KEY_ONE}", "not of the form"),
        ("k1:", "not of the form"),
        ("k1:not*base64", "not valid base64"),
        (f"k1:{base64.b64encode(bytes(16)).decode()}", "16 bytes"),
        (f"k1:{base64.b64encode(bytes(31)).decode()}", "31 bytes"),
        (f"k1:{base64.b64encode(bytes(64)).decode()}", "64 bytes"),
        (f"k1:{KEY_ONE},k1:{KEY_TWO}", "twice"),
        (f"bad id:{KEY_ONE}", "must be 1-64 letters"),
        (f"-k1:{KEY_ONE}", "must be 1-64 letters"),
    ],
)
def test_keyring_parse_refuses_malformed_setting_naming_it(text, words):
    with pytest.raises(ImproperlyConfigured, match=words) as caught:
        KeyRing.parse(text)
    assert "KEY_ENCRYPTION_KEYS" in str(caught.value)


def test_keyring_repr_shows_ids_but_never_key_material(ring_rotated):
    text = repr(ring_rotated)
    assert "k2" in text
    assert KEY_ONE not in text
    assert repr(bytes(range(32))) not in text


def test_keyring_secret_of_an_unknown_id_is_a_decryption_error(ring_one):
    with pytest.raises(DecryptionError):
        ring_one.secret("k9")


def test_keyring_follows_the_setting(settings):
    assert keyring().current_id == "test-k1"
    settings.KEY_ENCRYPTION_KEYS = f"k2:{KEY_TWO},test-k1:{settings.KEY_ENCRYPTION_KEYS.split(':', 1)[1]}"
    assert keyring().current_id == "k2"
    assert keyring().ids == ("k2", "test-k1")


def test_keyring_from_a_bad_setting_fails_naming_it(settings):
    settings.KEY_ENCRYPTION_KEYS = "k1:short"
    with pytest.raises(ImproperlyConfigured, match="KEY_ENCRYPTION_KEYS"):
        keyring()


# Seal and open


@pytest.mark.parametrize("cipher", CIPHERS)
def test_seal_then_open_box_returns_the_plaintext(cipher, ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    assert box.cipher == cipher
    assert box.kek_id == "k1"
    assert PAYLOAD not in box.ciphertext
    assert len(box.nonce) == 12
    assert len(box.wrap_nonce) == 12
    assert len(box.wrapped_key) == (32 if cipher == AES_256_GCM else 16) + 16
    assert len(box.ciphertext) == len(PAYLOAD) + 16
    assert open_box(box, aad=AAD, ring=ring_one) == PAYLOAD


@pytest.mark.parametrize("cipher", CIPHERS)
def test_seal_uses_a_fresh_data_key_and_nonce_per_record(cipher, ring_one):
    first = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    second = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    assert first.ciphertext != second.ciphertext
    assert first.nonce != second.nonce
    assert first.wrapped_key != second.wrapped_key


@pytest.mark.parametrize("cipher", CIPHERS)
def test_seal_handles_an_empty_plaintext(cipher, ring_one):
    box = seal(b"", aad=AAD, cipher=cipher, ring=ring_one)
    assert open_box(box, aad=AAD, ring=ring_one) == b""


def test_seal_defaults_to_the_configured_ring_and_cipher(settings):
    box = seal(PAYLOAD, aad=AAD)
    assert (box.cipher, box.kek_id) == (AES_256_GCM, "test-k1")
    settings.TELEMETRY_CIPHER = SM4_GCM
    box = seal(PAYLOAD, aad=AAD)
    assert (box.cipher, box.kek_id) == (SM4_GCM, "test-k1")
    assert open_box(box, aad=AAD) == PAYLOAD


def test_seal_refuses_an_unknown_cipher(ring_one):
    with pytest.raises(ImproperlyConfigured, match="TELEMETRY_CIPHER"):
        seal(PAYLOAD, aad=AAD, cipher="AES-128-CBC", ring=ring_one)


def test_sm4_gcm_matches_the_rfc_8998_test_vector():
    # RFC 8998, appendix A.1 (SM4-GCM).
    sealed = envelope._gcm_encrypt(
        SM4_GCM,
        bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
        bytes.fromhex("00001234567800000000ABCD"),
        bytes.fromhex(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
            "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
        ),
        bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2"),
    )
    assert sealed.hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )


# Refusals


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("field", ["wrapped_key", "wrap_nonce", "nonce", "ciphertext"])
@pytest.mark.parametrize("position", [0, -1])
def test_open_box_refuses_a_tampered_field(cipher, field, position, ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    value = getattr(box, field)
    tampered = dataclasses.replace(box, **{field: _flip(value, position % len(value))})
    with pytest.raises(DecryptionError) as caught:
        open_box(tampered, aad=AAD, ring=ring_one)
    assert caught.value.code == "DECRYPTION_FAILED"


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize(
    "change",
    [
        {"ciphertext": b""},
        {"ciphertext": b"short"},
        {"nonce": b"\x00" * 11},
        {"wrap_nonce": b"\x00" * 16},
        {"wrapped_key": b"\x00" * 8},
    ],
)
def test_open_box_refuses_truncated_or_resized_fields(cipher, change, ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    with pytest.raises(DecryptionError):
        open_box(dataclasses.replace(box, **change), aad=AAD, ring=ring_one)


@pytest.mark.parametrize("cipher", CIPHERS)
def test_open_box_refuses_a_box_relabelled_with_the_other_cipher(cipher, ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    other = SM4_GCM if cipher == AES_256_GCM else AES_256_GCM
    with pytest.raises(DecryptionError):
        open_box(dataclasses.replace(box, cipher=other), aad=AAD, ring=ring_one)
    with pytest.raises(DecryptionError, match="unknown cipher"):
        open_box(dataclasses.replace(box, cipher="ROT13"), aad=AAD, ring=ring_one)


def test_open_box_refuses_a_box_relabelled_with_another_kek_id(ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_one)
    # Same secret under a second id: only the binding of the wrap to the KEK id catches the relabel.
    aliased = KeyRing.parse(f"k1:{KEY_ONE},alias:{KEY_ONE}")
    with pytest.raises(DecryptionError):
        open_box(dataclasses.replace(box, kek_id="alias"), aad=AAD, ring=aliased)


@pytest.mark.parametrize("cipher", CIPHERS)
def test_open_box_refuses_a_box_moved_to_another_record(cipher, ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    for other_record in (b"passport.snapshot:1843", b"", AAD + b"\x00"):
        with pytest.raises(DecryptionError):
            open_box(box, aad=other_record, ring=ring_one)


def test_open_box_refuses_a_data_key_moved_from_another_record(ring_one):
    first = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_one)
    second = seal(b"other", aad=b"passport.snapshot:1843", cipher=AES_256_GCM, ring=ring_one)
    spliced = dataclasses.replace(first, wrapped_key=second.wrapped_key, wrap_nonce=second.wrap_nonce)
    with pytest.raises(DecryptionError):
        open_box(spliced, aad=AAD, ring=ring_one)


def test_open_box_refuses_an_unknown_kek(ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_one)
    other_ring = KeyRing.parse(f"k2:{KEY_TWO}")
    with pytest.raises(DecryptionError, match="k1") as caught:
        open_box(box, aad=AAD, ring=other_ring)
    assert caught.value.code == "DECRYPTION_FAILED"


def test_open_box_refuses_a_different_key_under_the_same_id(ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=SM4_GCM, ring=ring_one)
    with pytest.raises(DecryptionError):
        open_box(box, aad=AAD, ring=KeyRing.parse(f"k1:{KEY_TWO}"))


def test_decryption_error_is_a_domain_error():
    assert issubclass(DecryptionError, DomainError)
    assert DecryptionError("x").code == "DECRYPTION_FAILED"


# Rotation


@pytest.mark.parametrize("cipher", CIPHERS)
def test_rewrap_moves_the_data_key_to_the_current_kek_without_touching_the_ciphertext(
    cipher, ring_one, ring_rotated
):
    box = seal(PAYLOAD, aad=AAD, cipher=cipher, ring=ring_one)
    assert open_box(box, aad=AAD, ring=ring_rotated) == PAYLOAD  # old records open during the rotation

    rotated = rewrap(box, aad=AAD, ring=ring_rotated)
    assert rotated.kek_id == "k2"
    assert (rotated.cipher, rotated.nonce, rotated.ciphertext) == (box.cipher, box.nonce, box.ciphertext)
    assert rotated.wrapped_key != box.wrapped_key

    retired = KeyRing.parse(f"k2:{KEY_TWO}")  # k1 removed once every record is rewrapped
    assert open_box(rotated, aad=AAD, ring=retired) == PAYLOAD
    with pytest.raises(DecryptionError):
        open_box(box, aad=AAD, ring=retired)


def test_rewrap_to_a_named_kek(ring_one):
    ring = KeyRing.parse(f"k2:{KEY_TWO},k1:{KEY_ONE},k3:{KEY_THREE}")
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_one)
    moved = rewrap(box, aad=AAD, ring=ring, to_kek_id="k3")
    assert moved.kek_id == "k3"
    assert open_box(moved, aad=AAD, ring=KeyRing.parse(f"k3:{KEY_THREE}")) == PAYLOAD


def test_rewrap_leaves_a_box_already_under_the_target(ring_rotated):
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_rotated)
    assert rewrap(box, aad=AAD, ring=ring_rotated) is box


def test_rewrap_refuses_an_unknown_target(ring_rotated):
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_rotated)
    with pytest.raises(ImproperlyConfigured, match="k9"):
        rewrap(box, aad=AAD, ring=ring_rotated, to_kek_id="k9")


def test_rewrap_refuses_the_wrong_record(ring_one, ring_rotated):
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_one)
    with pytest.raises(DecryptionError):
        rewrap(box, aad=b"passport.snapshot:1843", ring=ring_rotated)


def test_rewrap_uses_the_configured_ring(settings):
    box = seal(PAYLOAD, aad=AAD)
    settings.KEY_ENCRYPTION_KEYS = f"k2:{KEY_TWO},{settings.KEY_ENCRYPTION_KEYS}"
    rotated = rewrap(box, aad=AAD)
    assert rotated.kek_id == "k2"
    assert open_box(rotated, aad=AAD) == PAYLOAD


# Storage in columns


def test_sealed_box_fields_round_trip_through_columns(ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=SM4_GCM, ring=ring_one)
    columns = box.to_fields("payload_")
    assert set(columns) == {
        "payload_cipher",
        "payload_kek_id",
        "payload_wrapped_key",
        "payload_wrap_nonce",
        "payload_nonce",
        "payload_ciphertext",
    }
    assert SealedBox.from_fields(columns, prefix="payload_") == box
    # PostgreSQL returns binary columns as memoryview; a model instance is read by attribute.
    as_read = {
        name: memoryview(value) if isinstance(value, bytes) else value for name, value in columns.items()
    }
    assert SealedBox.from_fields(as_read, prefix="payload_") == box
    assert SealedBox.from_fields(SimpleNamespace(**box.to_fields())) == box


def test_sealed_box_is_frozen(ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_one)
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.kek_id = "k2"  # type: ignore[misc]


# The stored format, pinned so records stay readable by any later version


def _independent_wrap_aad(cipher: str, kek_id: str, aad: bytes) -> bytes:
    framed = b"".join(len(part).to_bytes(4, "big") + part for part in (cipher.encode(), kek_id.encode(), aad))
    return b"voltrace.envelope.wrap/1" + framed


def test_aes_box_opens_with_plain_aes_gcm_as_documented(ring_one):
    box = seal(PAYLOAD, aad=AAD, cipher=AES_256_GCM, ring=ring_one)
    wrap_aad = _independent_wrap_aad(AES_256_GCM, "k1", AAD)
    data_key = AESGCM(bytes(range(32))).decrypt(box.wrap_nonce, box.wrapped_key, wrap_aad)
    assert AESGCM(data_key).decrypt(box.nonce, box.ciphertext, AAD) == PAYLOAD


def test_sm4_box_opens_with_an_hkdf_subkey_of_the_kek_as_documented(ring_one):
    def sm4_gcm_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-16:])).decryptor()
        decryptor.authenticate_additional_data(aad)
        return decryptor.update(sealed[:-16]) + decryptor.finalize()

    box = seal(PAYLOAD, aad=AAD, cipher=SM4_GCM, ring=ring_one)
    subkey = HKDF(
        algorithm=hashes.SHA256(), length=16, salt=None, info=b"voltrace/envelope/kek-subkey/sm4-gcm/v1"
    ).derive(bytes(range(32)))
    data_key = sm4_gcm_open(
        subkey, box.wrap_nonce, box.wrapped_key, _independent_wrap_aad(SM4_GCM, "k1", AAD)
    )
    assert len(data_key) == 16
    assert sm4_gcm_open(data_key, box.nonce, box.ciphertext, AAD) == PAYLOAD
