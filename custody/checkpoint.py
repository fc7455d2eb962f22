"""C2SP signed notes, transparency-log checkpoints and witness cosignatures.

Specifications: https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint and
https://c2sp.org/tlog-cosignature (cosignature/v1, Ed25519). Standard library and `cryptography`
only: the offline verifier imports this module with no Django and no database.

A checkpoint body is `<origin>\\n<tree size>\\n<base64 root hash>\\n`; the log signs it with an
Ed25519 note signature (type 0x01); witnesses add cosignature/v1 lines (type 0x04) signing
`cosignature/v1\\ntime <POSIX seconds>\\n` followed by the same body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from custody.merkle import HASH_SIZE

SIGNATURE_TYPE_ED25519 = 0x01
SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
EM_DASH = "\u2014"
MAX_SIGNATURES = 100
_ED25519_PUBLIC_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_MAX_TIMESTAMP = 2**63 - 1
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


TIMESTAMP_EXTENSION = "timestamp"


class NoteError(ValueError):
    """A note, key, checkpoint or cosignature is malformed or does not verify; the message says why."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_key_name(name: str) -> None:
    if not name:
        raise NoteError("a key name must not be empty")
    if "+" in name or any(character.isspace() for character in name):
        raise NoteError(f"the key name {name!r} must not contain spaces or '+'")
    if _CONTROL_CHARACTERS.search(name) or "\n" in name:
        raise NoteError(f"the key name {name!r} must not contain control characters")


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key with its signature type (0x01 note, 0x04 cosignature/v1)."""

    name: str
    signature_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if self.signature_type not in {SIGNATURE_TYPE_ED25519, SIGNATURE_TYPE_COSIGNATURE_V1}:
            raise NoteError(f"unsupported signature type 0x{self.signature_type:02x}")
        if len(self.public_key) != _ED25519_PUBLIC_KEY_SIZE:
            raise NoteError(f"an Ed25519 public key has 32 bytes, got {len(self.public_key)}")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.signature_type, self.public_key)

    @property
    def vkey(self) -> str:
        """The verifier key string `<name>+<hex key ID>+<base64(type || public key)>`."""
        encoded = _b64encode(bytes([self.signature_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def public_key_pem(self) -> str:
        key = Ed25519PublicKey.from_public_bytes(self.public_key)
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem.decode("ascii")

    def verify_signature(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_vkey(vkey: str) -> VerifierKey:
    """Parse `<name>+<hex key ID>+<base64(type || public key)>` and check the key ID matches."""
    if not isinstance(vkey, str):
        raise NoteError("a verifier key must be text")
    parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3:
        raise NoteError("a verifier key has the form <name>+<hex key ID>+<base64 key>")
    name, id_hex, key_b64 = parts
    if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
        raise NoteError("the key ID of a verifier key must be 8 lowercase hex digits")
    raw = _b64decode(key_b64, "the verifier key's key material")
    if not raw:
        raise NoteError("the verifier key's key material is empty")
    key = VerifierKey(name=name, signature_type=raw[0], public_key=raw[1:])
    if key.key_id.hex() != id_hex:
        raise NoteError(f"the verifier key ID {id_hex} does not match its name and key ({key.key_id.hex()})")
    return key


class NoteSigner:
    """Signs notes with an Ed25519 private key under a key name (signature type 0x01)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name(name)
        self.name = name
        self._private_key = private_key
        public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.verifier = VerifierKey(name=name, signature_type=SIGNATURE_TYPE_ED25519, public_key=public)

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        if len(seed) != 32:
            raise NoteError(f"an Ed25519 seed has 32 bytes, got {len(seed)}")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    def sign_line(self, text: str) -> str:
        """The signature line for a note text (without the trailing newline)."""
        _check_text(text)
        signature = self._private_key.sign(text.encode())
        return f"{EM_DASH} {self.name} {_b64encode(self.verifier.key_id + signature)}"

    def sign(self, text: str) -> str:
        """The complete signed note: text, blank line, one signature line."""
        return format_note(text, [self.sign_line(text)])


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        return f"{EM_DASH} {self.name} {_b64encode(self.key_id + self.signature)}"


@dataclass(frozen=True)
class Note:
    """A parsed signed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("a note text must end with a newline")
    if _CONTROL_CHARACTERS.search(text):
        raise NoteError("a note must not contain control characters other than newline")


def format_note(text: str, signature_lines: list[str]) -> str:
    """Assemble a signed note from its text and signature lines."""
    _check_text(text)
    return text + "\n" + "".join(line + "\n" for line in signature_lines)


def parse_signature_line(line: str) -> NoteSignature:
    """Parse `— <key name> <base64(key ID || signature)>`."""
    prefix = EM_DASH + " "
    if not line.startswith(prefix):
        raise NoteError("a signature line must start with an em dash and a space")
    parts = line[len(prefix) :].split(" ")
    if len(parts) != 2:
        raise NoteError("a signature line has the form '— <key name> <base64 signature>'")
    name, encoded = parts
    _check_key_name(name)
    raw = _b64decode(encoded, f"the signature of {name}")
    if len(raw) < 5:
        raise NoteError(f"the signature of {name} is too short")
    return NoteSignature(name=name, key_id=raw[:4], signature=raw[4:])


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into its text and signatures, checking the format."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("a note must be valid UTF-8") from exc
    if _CONTROL_CHARACTERS.search(note):
        raise NoteError("a note must not contain control characters other than newline")
    if not note.endswith("\n"):
        raise NoteError("a signed note must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("a signed note needs a blank line between the text and the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise NoteError("a signed note needs at least one signature line")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return Note(text=text, signatures=tuple(parse_signature_line(line) for line in lines))


def verify_note(note: str | bytes | Note, keys: list[VerifierKey]) -> tuple[Note, list[VerifierKey]]:
    """Verify a note against known note keys (type 0x01); returns the note and the keys that signed.

    Signatures from unknown keys are ignored, as the specification requires; a signature from a known
    key that fails, or no verified signature at all, rejects the note.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    known = {(key.name, key.key_id): key for key in keys if key.signature_type == SIGNATURE_TYPE_ED25519}
    verified: list[VerifierKey] = []
    for signature in parsed.signatures:
        key = known.get((signature.name, signature.key_id))
        if key is None:
            continue
        if not key.verify_signature(parsed.text.encode(), signature.signature):
            raise NoteError(f"the signature of {key.name} does not verify")
        verified.append(key)
    if not verified:
        names = ", ".join(sorted({key.name for key in keys})) or "none"
        raise NoteError(f"the note carries no signature from a known key ({names})")
    return parsed, verified


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint body: origin, tree size, root hash and any extension lines."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = field(default=())

    @property
    def body(self) -> str:
        return format_checkpoint_body(self.origin, self.tree_size, self.root_hash, self.extensions)

    @property
    def timestamp(self) -> int | None:
        """The signed time of the tree head (Unix seconds) from the `timestamp` extension line, if any."""
        for line in self.extensions:
            name, _, value = line.partition(" ")
            if name == TIMESTAMP_EXTENSION and _DECIMAL.fullmatch(value):
                return int(value)
        return None


def format_checkpoint_body(
    origin: str, tree_size: int, root_hash: bytes, extensions: tuple[str, ...] = ()
) -> str:
    """`<origin>\\n<size>\\n<base64 root>\\n` plus any extension lines."""
    if not origin or "\n" in origin:
        raise NoteError("the checkpoint origin must be one non-empty line")
    if tree_size < 0:
        raise NoteError("the tree size must not be negative")
    if len(root_hash) != HASH_SIZE:
        raise NoteError(f"the root hash must have {HASH_SIZE} bytes, got {len(root_hash)}")
    lines = [origin, str(tree_size), _b64encode(root_hash), *extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a checkpoint note text: origin, decimal size without leading zeros, base64 root."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has at least three lines: origin, tree size, root hash")
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise NoteError("the checkpoint origin line is empty")
    if not _DECIMAL.fullmatch(size_line):
        raise NoteError(f"the checkpoint tree size {size_line!r} is not a decimal without leading zeros")
    root = _b64decode(root_line, "the checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise NoteError(f"the checkpoint root hash must have {HASH_SIZE} bytes, got {len(root)}")
    if any(not line for line in extensions):
        raise NoteError("checkpoint extension lines must not be empty")
    return Checkpoint(origin=origin, tree_size=int(size_line), root_hash=root, extensions=tuple(extensions))


def sign_checkpoint(
    signer: NoteSigner, *, origin: str, tree_size: int, root_hash: bytes, timestamp: int | None = None
) -> str:
    """The signed checkpoint note for a tree head; `timestamp` (Unix seconds) becomes a signed extension line.

    DESIGN.md's signed tree head is {tree_size, root_hash, timestamp}; the C2SP body has no time line of
    its own, so the time travels as the extension line `timestamp <seconds>`, covered by the signature.
    """
    extensions = (f"{TIMESTAMP_EXTENSION} {timestamp}",) if timestamp is not None else ()
    return signer.sign(format_checkpoint_body(origin, tree_size, root_hash, extensions))


def verify_checkpoint(
    note_text: str | bytes, vkey: str | VerifierKey, *, origin: str | None = None
) -> Checkpoint:
    """Verify a checkpoint note with the log's verifier key and return the checkpoint.

    The origin must equal `origin` when given, else the key name (C2SP: the log's key name SHOULD
    match the origin line). Other signature lines (witness cosignatures) are ignored here.
    """
    key = parse_vkey(vkey) if isinstance(vkey, str) else vkey
    if key.signature_type != SIGNATURE_TYPE_ED25519:
        raise NoteError("a log key must be an Ed25519 note key (signature type 0x01)")
    note, _signed_by = verify_note(note_text, [key])
    checkpoint = parse_checkpoint_body(note.text)
    expected = origin if origin is not None else key.name
    if checkpoint.origin != expected:
        raise NoteError(f"the checkpoint origin {checkpoint.origin!r} is not {expected!r}")
    return checkpoint


def cosignature_message(body: str, timestamp: int) -> bytes:
    """The message a cosignature/v1 signs: header, time line, checkpoint body."""
    _check_text(body)
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError("a cosignature timestamp must be between 0 and 2^63 - 1")
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class Cosignature:
    """A verified witness cosignature: who, when, and the signature line as published."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    @property
    def line(self) -> str:
        raw = self.key_id + struct.pack(">Q", self.timestamp) + self.signature
        return f"{EM_DASH} {self.name} {_b64encode(raw)}"


def sign_cosignature(*, name: str, private_key: Ed25519PrivateKey, body: str, timestamp: int) -> str:
    """A cosignature/v1 signature line over a checkpoint body (what a witness produces)."""
    _check_key_name(name)
    public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signature = private_key.sign(cosignature_message(body, timestamp))
    identifier = key_id(name, SIGNATURE_TYPE_COSIGNATURE_V1, public)
    return Cosignature(name=name, key_id=identifier, timestamp=timestamp, signature=signature).line


def verify_cosignature(line: str | NoteSignature, *, body: str, key: VerifierKey) -> Cosignature:
    """Verify one cosignature/v1 line over a checkpoint body with the witness's key (type 0x04)."""
    signature = parse_signature_line(line) if isinstance(line, str) else line
    if key.signature_type != SIGNATURE_TYPE_COSIGNATURE_V1:
        raise NoteError("a witness key must be a cosignature/v1 key (signature type 0x04)")
    if (signature.name, signature.key_id) != (key.name, key.key_id):
        raise NoteError(f"the cosignature is by {signature.name}, not by the witness key {key.name}")
    if len(signature.signature) != 8 + _ED25519_SIGNATURE_SIZE:
        raise NoteError("a cosignature/v1 carries an 8-byte timestamp and a 64-byte Ed25519 signature")
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    if timestamp > _MAX_TIMESTAMP:
        raise NoteError("the cosignature timestamp exceeds 2^63 - 1")
    if not key.verify_signature(cosignature_message(body, timestamp), signature.signature[8:]):
        raise NoteError(f"the cosignature of {key.name} does not verify")
    return Cosignature(
        name=key.name, key_id=key.key_id, timestamp=timestamp, signature=signature.signature[8:]
    )


def verify_cosignatures(note_text: str | bytes, witness_keys: list[VerifierKey]) -> list[Cosignature]:
    """Verify every cosignature in a note from the given witness keys; unknown lines are ignored."""
    note = parse_note(note_text)
    known = {(key.name, key.key_id): key for key in witness_keys}
    verified = []
    for signature in note.signatures:
        key = known.get((signature.name, signature.key_id))
        if key is not None and key.signature_type == SIGNATURE_TYPE_COSIGNATURE_V1:
            verified.append(verify_cosignature(signature, body=note.text, key=key))
    return verified
