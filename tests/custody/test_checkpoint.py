"""C2SP signed notes, checkpoints and cosignatures against the specification's example vector."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody.checkpoint import (
    EM_DASH,
    SIGNATURE_TYPE_COSIGNATURE_V1,
    NoteError,
    NoteSigner,
    VerifierKey,
    cosignature_message,
    format_checkpoint_body,
    format_note,
    parse_checkpoint_body,
    parse_note,
    parse_vkey,
    sign_checkpoint,
    sign_cosignature,
    verify_checkpoint,
    verify_cosignature,
    verify_cosignatures,
    verify_note,
)
from custody.merkle import EMPTY_ROOT

REFDATA = Path(__file__).resolve().parents[2].parent / "shared" / "refdata" / "c2sp-tlog"
SEED = bytes(range(32))
ORIGIN = "voltrace.test/log"


@pytest.fixture
def example() -> dict[str, str]:
    return json.loads((REFDATA / "signed-note-example-vector.json").read_text())


def _example_note(example: dict[str, str]) -> str:
    return example["note_text"] + "\n" + example["signature_line"] + "\n"


def _witness(name: str = "witness.test/w1") -> tuple[Ed25519PrivateKey, VerifierKey]:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    return private, VerifierKey(name=name, signature_type=SIGNATURE_TYPE_COSIGNATURE_V1, public_key=public)


def test_specification_example_note_verifies(example):
    key = parse_vkey(example["verifier_key"])
    note, signed_by = verify_note(_example_note(example), [key])
    assert note.text == "This is an example message.\n"
    assert signed_by == [key]
    assert key.vkey == example["verifier_key"]


def test_modified_example_note_is_rejected(example):
    key = parse_vkey(example["verifier_key"])
    tampered = _example_note(example).replace("example message", "example massage")
    with pytest.raises(NoteError, match=r"signature of example\.com/foo does not verify"):
        verify_note(tampered, [key])


def test_example_note_with_a_flipped_signature_byte_is_rejected(example):
    key = parse_vkey(example["verifier_key"])
    name, encoded = example["signature_line"][2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 0x01
    note = example["note_text"] + "\n" + f"{EM_DASH} {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError):
        verify_note(note, [key])


def test_key_id_follows_the_specification_rule(example):
    key = parse_vkey(example["verifier_key"])
    assert key.key_id.hex() == example["verifier_key"].split("+")[1]


def test_vkey_with_a_wrong_key_id_is_rejected(example):
    name, _id, material = example["verifier_key"].split("+")
    with pytest.raises(NoteError, match="does not match"):
        parse_vkey(f"{name}+00000000+{material}")


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("no-plus-signs", "has the form"),
        ("name+zzzz+AAAA", "8 lowercase hex"),
        ("name+530d903a+!!!", "not valid base64"),
        ("name+530d903a+" + base64.b64encode(b"\x09" + bytes(32)).decode(), "unsupported signature type"),
        ("name+530d903a+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "32 bytes"),
    ],
)
def test_malformed_vkeys_are_rejected_with_a_reason(vkey, message):
    with pytest.raises(NoteError, match=message):
        parse_vkey(vkey)


def test_unknown_signatures_are_ignored_but_one_known_signature_is_required(example):
    key = parse_vkey(example["verifier_key"])
    other = NoteSigner.from_seed("other.test/key", SEED)
    note = format_note(
        example["note_text"], [other.sign_line(example["note_text"]), example["signature_line"]]
    )
    verify_note(note, [key])
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(other.sign(example["note_text"]), [key])


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("text\n", "blank line"),
        ("text\n\n", "at least one signature"),
        ("text\n\n- name AAAAAAAA\n", "em dash"),
        ("text\n\n— name AAAA AAAA\n", "has the form"),
        ("te\x07xt\n\n— name AAAAAAAA\n", "control characters"),
        ("text\n\n— name AAAAAAAA", "end with a newline"),
        ("text\n\n— name AAAA\n", "too short"),
    ],
)
def test_malformed_notes_are_rejected_with_a_reason(note, message):
    with pytest.raises(NoteError, match=message):
        parse_note(note)


def test_signed_checkpoint_round_trips_and_verifies_with_the_vkey():
    signer = NoteSigner.from_seed(ORIGIN, SEED)
    root = bytes(range(32))
    note = sign_checkpoint(signer, origin=ORIGIN, tree_size=42, root_hash=root)
    assert note.startswith(f"{ORIGIN}\n42\n{base64.b64encode(root).decode()}\n\n{EM_DASH} {ORIGIN} ")
    checkpoint = verify_checkpoint(note, signer.verifier.vkey)
    assert (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash) == (ORIGIN, 42, root)


def test_checkpoint_with_a_changed_size_or_wrong_key_or_origin_is_rejected():
    signer = NoteSigner.from_seed(ORIGIN, SEED)
    note = sign_checkpoint(signer, origin=ORIGIN, tree_size=42, root_hash=EMPTY_ROOT)
    with pytest.raises(NoteError, match="does not verify"):
        verify_checkpoint(note.replace("\n42\n", "\n43\n"), signer.verifier)
    impostor = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_checkpoint(note, impostor.verifier)
    with pytest.raises(NoteError, match="origin"):
        verify_checkpoint(note, signer.verifier, origin="another.test/log")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("origin\n42\n", "at least three lines"),
        ("origin\n042\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "leading zeros"),
        ("origin\n-1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "decimal"),
        ("origin\n1\n" + base64.b64encode(b"short").decode() + "\n", "32 bytes"),
        ("\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "origin line is empty"),
    ],
)
def test_malformed_checkpoint_bodies_are_rejected(body, message):
    with pytest.raises(NoteError, match=message):
        parse_checkpoint_body(body)


def test_checkpoint_body_keeps_extension_lines():
    body = format_checkpoint_body(ORIGIN, 0, EMPTY_ROOT, ("extension",))
    assert parse_checkpoint_body(body).extensions == ("extension",)


def test_cosignature_message_has_header_time_and_body():
    body = format_checkpoint_body(ORIGIN, 7, EMPTY_ROOT)
    assert cosignature_message(body, 1679315147) == f"cosignature/v1\ntime 1679315147\n{body}".encode()


def test_witness_cosignature_verifies_and_is_ignored_by_the_log_verification():
    signer = NoteSigner.from_seed(ORIGIN, SEED)
    note = sign_checkpoint(signer, origin=ORIGIN, tree_size=7, root_hash=EMPTY_ROOT)
    private, witness = _witness()
    body = parse_note(note).text
    line = sign_cosignature(name=witness.name, private_key=private, body=body, timestamp=1_700_000_000)
    cosigned = note + line + "\n"
    verify_checkpoint(cosigned, signer.verifier)
    [cosignature] = verify_cosignatures(cosigned, [witness])
    assert cosignature.timestamp == 1_700_000_000
    assert cosignature.line == line
    assert witness.vkey.startswith("witness.test/w1+")


def test_cosignature_over_another_body_or_time_is_rejected():
    private, witness = _witness()
    body = format_checkpoint_body(ORIGIN, 7, EMPTY_ROOT)
    line = sign_cosignature(name=witness.name, private_key=private, body=body, timestamp=1_700_000_000)
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(line, body=format_checkpoint_body(ORIGIN, 8, EMPTY_ROOT), key=witness)
    name, encoded = line[2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[11] ^= 0x01  # the last byte of the timestamp
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(
            f"{EM_DASH} {name} {base64.b64encode(bytes(raw)).decode()}", body=body, key=witness
        )


def test_cosignature_by_another_witness_key_is_rejected():
    private, witness = _witness()
    _other_private, other = _witness("witness.test/w2")
    body = format_checkpoint_body(ORIGIN, 7, EMPTY_ROOT)
    line = sign_cosignature(name=witness.name, private_key=private, body=body, timestamp=1)
    with pytest.raises(NoteError, match="not by the witness key"):
        verify_cosignature(line, body=body, key=other)


def test_a_log_key_cannot_verify_a_cosignature():
    signer = NoteSigner.from_seed(ORIGIN, SEED)
    with pytest.raises(NoteError, match="type 0x04"):
        verify_cosignature(f"{EM_DASH} {ORIGIN} AAAAAAAA", body="x\n", key=signer.verifier)


def test_public_key_pem_is_an_ed25519_subject_public_key_info():
    signer = NoteSigner.from_seed(ORIGIN, SEED)
    assert signer.verifier.public_key_pem().startswith("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA")


def test_sign_checkpoint_covers_the_timestamp_with_the_signature():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from custody.checkpoint import NoteSigner, sign_checkpoint, verify_checkpoint

    signer = NoteSigner("example.test/log", Ed25519PrivateKey.generate())
    note = sign_checkpoint(
        signer, origin="example.test/log", tree_size=3, root_hash=bytes(32), timestamp=1764000000
    )
    checkpoint = verify_checkpoint(note, signer.verifier)
    assert checkpoint.timestamp == 1764000000
    tampered = note.replace("timestamp 1764000000", "timestamp 1764000001")
    with pytest.raises(NoteError):
        verify_checkpoint(tampered, signer.verifier)
