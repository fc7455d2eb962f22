"""Offline verifier of custody bundles (format voltrace.custody-bundle/1).

    python -m custody.verify BUNDLE.json --log-key KEY [--json]

KEY is the log's C2SP verifier key (`<name>+<hex key ID>+<base64>`), or a file holding it, or a file
holding the log's Ed25519 public key as PEM. Exit status: 0 when every check passes, 1 at the first
failed check (the message names the check, the event hash, snapshot or key, and the JSON path of the
field), 2 when the input is unusable (unreadable file, not strict JSON, another format, an unusable key).

Only the standard library, `cryptography` and four pure modules are imported (`core.canonical`,
`core.signing`, `custody.merkle`, `custody.checkpoint`): no Django, no database. A third party can run
it with those five files and `pip install cryptography`.

The checks run in the order of the bundle contract and stop at the first failure:

1. checkpoint: the note is signed by the log key given on the command line (and `log.vkey` is that
   key); tree size and root repeat the note; every listed cosignature verifies; every signature line
   of the note is the log's or a listed cosignature;
2. events: each `hash` is SHA-256 of the RFC 8785 bytes of `body`; per subject, `seq` is contiguous
   from the first included event and `prev_hash` names the previous event (null exactly at seq 0);
3. inclusion: each event's audit path leads from its leaf to the checkpoint root;
4. inputs: an input naming an event of the bundle names that event's subject;
5. snapshots and keys: each key record is consistent (key id, algorithm, PEM); every snapshot an event
   names is present; a given payload hashes to `payload_hash`, its signature verifies under a BMS
   device key valid and not revoked at `captured_at`; a withheld payload is reported, not failed;
6. licences: a licensed step (activity and facility) is covered by an active interval of the licence
   the body names, at `occurred_at`, for that activity; `licence_id`/`licence_status` agree with it.

What the bundle cannot prove (`UNCOVERED`, `UNAUTHENTICATED`): the contract signs the events (through
their hashes and the checkpoint) and the snapshots (through the device signatures), not the bundle as a
whole, so the descriptive fields (`scope`, `generated_at`, organisation and licence names...) are read
by no check, and key and licence records are claims that the checks use but nothing signs: a change to a
validity window or interval that still covers every event goes unnoticed. The report lists both, with
the unsigned metadata of withheld snapshots.

A failure's `check` is one of: bundle (the top level), checkpoint, cosignature, event_hash (an event
entry or its hash), chain, inclusion, inputs, key, snapshot, licence.

Every byte that is covered is checked strictly: unknown or missing fields fail, hex is lowercase, base64
must be in its canonical encoding (a flipped padding bit decodes to the same bytes), timestamps outside
signed data are UTC. Messages are plain English; callers with a user in front of them translate by the
stable `check` code and the `path`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import textwrap
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives import serialization

from core.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalizationError,
    StrictJsonError,
    canonicalize,
    parse_json_strict,
)
from core.signing import KeyFormatError, PublicKey, algorithm_of, key_id, load_public_key, verify_signature
from custody.checkpoint import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    SIGNATURE_TYPE_ED25519,
    NoteError,
    VerifierKey,
    parse_note,
    parse_vkey,
    verify_checkpoint,
    verify_cosignature,
)
from custody.merkle import HASH_SIZE, ProofError, verify_inclusion

__all__ = [
    "FORMAT",
    "UNAUTHENTICATED",
    "UNCOVERED",
    "Failure",
    "UnusableInput",
    "VerificationReport",
    "load_bundle",
    "main",
    "parse_bundle",
    "verify_bundle",
]

FORMAT = "voltrace.custody-bundle/1"
MAX_BUNDLE_BYTES = 4 * 1024**3
MAX_DEPTH = 64
SHOWN_WITHHELD = 20

# Read by no check: free-form or descriptive. `[*]` stands for any index.
UNCOVERED: tuple[str, ...] = (
    "generated_at",
    "scope",
    "keys[*].organisation",
    "keys[*].revocations[*].reason",
    "licences[*].facility",
    "licences[*].timezone",
    "licences[*].kind",
    "licences[*].number",
    "licences[*].issuing_authority",
)
# Read by the checks but signed by nothing: a change that keeps every check passing is not detected
# (a validity window or licence interval widened, a purpose or revocation of a key no payload uses).
UNAUTHENTICATED: tuple[str, ...] = (
    "keys[*].purpose",
    "keys[*].valid_from",
    "keys[*].valid_until",
    "keys[*].revocations",
    "licences[*].intervals",
)

BMS_DEVICE = "bms_device"
KEY_PURPOSES = frozenset({"bms_device", "registration", "certification"})
LICENCE_STATES = frozenset({"active", "suspended", "revoked", "expired", "pending"})
SIGNATURE_ALGORITHMS = frozenset({"Ed25519", "ECDSA-P256"})
SUBJECT_KINDS = frozenset({"battery", "lot"})

_TOP_FIELDS = frozenset(
    {"format", "generated_at", "scope", "log", "checkpoint", "events", "snapshots", "keys", "licences"}
)
_LOG_FIELDS = frozenset({"origin", "vkey"})
_CHECKPOINT_FIELDS = frozenset({"note", "tree_size", "root_hash_b64", "cosignatures"})
_COSIGNATURE_FIELDS = frozenset({"witness", "vkey", "line"})
_EVENT_FIELDS = frozenset({"hash", "body", "leaf_index", "inclusion_proof_b64"})
_SNAPSHOT_FIELDS = frozenset({"payload_hash", "signature", "captured_at", "battery_code", "payload"})
_SIGNATURE_FIELDS = frozenset({"alg", "key_id", "value"})
_KEY_FIELDS = frozenset(
    {
        "key_id",
        "algorithm",
        "public_key_pem",
        "organisation",
        "purpose",
        "valid_from",
        "valid_until",
        "revocations",
    }
)
_REVOCATION_FIELDS = frozenset({"effective_at", "reason"})
_LICENCE_FIELDS = frozenset(
    {"id", "facility_id", "facility", "timezone", "kind", "number", "issuing_authority", "intervals"}
)
_INTERVAL_FIELDS = frozenset({"from", "until", "activities", "state"})
_INPUT_REQUIRED = frozenset({"kind", "code", "event_hash"})

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
# Outside signed data a timestamp is UTC: "Z" or "+00:00", nothing that reads the same instant two ways.
_UTC_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)\Z"
)
# Inside a signed payload: RFC 3339 as the snapshot schema accepts it (any offset, up to nanoseconds).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)
_SUBJECT_FIELDS = frozenset({"kind", "code"})
_ABSENT: Any = object()
_WALK_BUDGET = 100_000
_SORTED_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False, sort_keys=True
)
_PEM_HEADER = "-----BEGIN PUBLIC KEY-----"
_PEM_FOOTER = "-----END PUBLIC KEY-----"
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class UnusableInput(Exception):
    """The bundle or the key cannot be checked at all (exit status 2); `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Failure:
    """The first failed check: its code, what is wrong, where, and which event, snapshot, key or licence."""

    check: str
    message: str
    path: str
    event_hash: str | None = None
    snapshot: str | None = None
    key_id: str | None = None
    licence_id: int | None = None

    def describe(self) -> str:
        subjects = []
        if self.event_hash:
            subjects.append(f"event {self.event_hash}")
        if self.snapshot:
            subjects.append(f"snapshot {self.snapshot}")
        if self.key_id:
            subjects.append(f"key {self.key_id}")
        if self.licence_id is not None:
            subjects.append(f"licence {self.licence_id}")
        about = f" ({', '.join(subjects)})" if subjects else ""
        return f"[{self.check}] {self.path}{about}: {self.message}"


@dataclass(frozen=True)
class WitnessCosignature:
    """A verified witness cosignature."""

    witness: str
    key_id: str
    timestamp: int

    @property
    def signed_at(self) -> str:
        return datetime.fromtimestamp(self.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class VerificationReport:
    """What was checked, what passed, and the first failure if any."""

    ok: bool = False
    failure: Failure | None = None
    passed: list[str] = field(default_factory=list)
    origin: str | None = None
    log_key: str | None = None
    tree_size: int | None = None
    root_hash_b64: str | None = None
    cosignatures: list[WitnessCosignature] = field(default_factory=list)
    events: int = 0
    subjects: int = 0
    inclusion: str | None = None  # "tree": root rebuilt from every leaf; "proofs": each path verified
    inputs_resolved: int = 0
    inputs_external: int = 0
    keys: int = 0
    snapshots: int = 0
    snapshots_verified: int = 0
    snapshots_withheld: list[str] = field(default_factory=list)
    snapshots_unreferenced: int = 0
    licences: int = 0
    licensed_events: int = 0
    uncovered: list[str] = field(default_factory=lambda: list(UNCOVERED))
    unauthenticated: list[str] = field(default_factory=lambda: list(UNAUTHENTICATED))
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["cosignatures"] = [
            {
                "witness": item.witness,
                "key_id": item.key_id,
                "timestamp": item.timestamp,
                "signed_at": item.signed_at,
            }
            for item in self.cosignatures
        ]
        return result

    def summary(self) -> str:
        """The readable summary the command prints."""
        lines = []
        if self.tree_size is not None:
            lines.append(
                f"checkpoint    {self.origin}, tree size {self.tree_size}, root {self.root_hash_b64}"
            )
            lines.append(f"log key       {self.log_key}")
        if "checkpoint" in self.passed:
            if self.cosignatures:
                signed = ", ".join(f"{item.witness} at {item.signed_at}" for item in self.cosignatures)
                lines.append(f"cosignatures  {len(self.cosignatures)} verified: {signed}")
            else:
                lines.append("cosignatures  none listed")
        if "events" in self.passed:
            lines.append(
                f"events        {self.events} in {self.subjects} subjects: hashes and chain links verified"
            )
        if "inclusion" in self.passed:
            how = (
                f"root rebuilt from all {self.tree_size} leaves"
                if self.inclusion == "tree"
                else f"{self.events} audit paths verified"
            )
            lines.append(f"inclusion     every event is in the checkpoint's tree ({how})")
        if "inputs" in self.passed:
            lines.append(
                f"inputs        {self.inputs_resolved} resolved in the bundle, "
                f"{self.inputs_external} refer to events outside it"
            )
        if "snapshots" in self.passed:
            lines.append(f"keys          {self.keys} key records consistent")
            extra = (
                f", {self.snapshots_unreferenced} not referenced by an event"
                if self.snapshots_unreferenced
                else ""
            )
            lines.append(
                f"snapshots     {self.snapshots} present, {self.snapshots_verified} payloads hashed and "
                f"signatures verified, {len(self.snapshots_withheld)} payloads withheld{extra}"
            )
            shown = self.snapshots_withheld[:SHOWN_WITHHELD]
            lines.extend(f"  payload withheld: {payload_hash}" for payload_hash in shown)
            if len(self.snapshots_withheld) > len(shown):
                lines.append(f"  ... and {len(self.snapshots_withheld) - len(shown)} more (see --json)")
        if "licences" in self.passed:
            lines.append(
                f"licences      {self.licences} checked; {self.licensed_events} events with a licence "
                "agree with it at occurred_at"
            )
        uncovered = ", ".join(UNCOVERED)
        if self.snapshots_withheld:
            uncovered += (
                f"; the signature, captured_at and battery_code of the {len(self.snapshots_withheld)} "
                "snapshots whose payload is withheld"
            )
        unsigned = ", ".join(self.unauthenticated) + " (checked, but signed by nothing)"
        for label, text in (("not covered", uncovered), ("unsigned", unsigned)):
            lines.append(
                textwrap.fill(text, width=100, initial_indent=f"{label:<14}", subsequent_indent=" " * 14)
            )
        if self.ok:
            lines.append("PASS: every check passed.")
        elif self.failure is not None:
            lines.append("FAIL " + self.failure.describe())
        return "\n".join(lines)


class _Stop(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure


def _fail(check: str, path: str, message: str, **about: Any) -> NoReturn:
    raise _Stop(Failure(check=check, message=message, path=path, **about))


# ---------------------------------------------------------------------------------------------------
# Field readers: each names the path of what it refuses
# ---------------------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _fields(value: Any, expected: frozenset[str], path: str, check: str, **about: Any) -> dict[str, Any]:
    if type(value) is not dict:
        _fail(check, path, f"must be an object, not {_type_name(value)}", **about)
    if value.keys() != expected:
        missing = sorted(expected - value.keys())
        if missing:
            _fail(check, _join(path, missing[0]), "is missing", **about)
        unknown = sorted(value.keys() - expected)[0]
        _fail(check, _join(path, unknown), "is not a field of this format", **about)
    return value


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _string(value: Any, path: str, check: str, **about: Any) -> str:
    if type(value) is not str:
        _fail(check, path, f"must be a string, not {_type_name(value)}", **about)
    return value


def _integer(value: Any, path: str, check: str, *, minimum: int | None = None, **about: Any) -> int:
    if type(value) is not int:
        _fail(check, path, f"must be an integer, not {_type_name(value)}", **about)
    if minimum is not None and value < minimum:
        _fail(check, path, f"must be at least {minimum}, not {value}", **about)
    return value


def _array(value: Any, path: str, check: str, **about: Any) -> list[Any]:
    if type(value) is not list:
        _fail(check, path, f"must be an array, not {_type_name(value)}", **about)
    return value


def _hex64(value: Any, path: str, check: str, **about: Any) -> str:
    if type(value) is not str or not _HEX64.match(value):
        _fail(check, path, f"must be a SHA-256 as 64 lowercase hex digits, not {_shown(value)}", **about)
    return value


def _b64(value: Any, path: str, check: str, *, size: int | None = None, **about: Any) -> bytes:
    """Strict base64: the standard alphabet, padded, and the one encoding of the bytes it holds."""
    if type(value) is not str:
        _fail(check, path, f"must be a base64 string, not {_type_name(value)}", **about)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _fail(check, path, f"is not valid base64: {_shown(value)}", **about)
    if base64.b64encode(raw).decode("ascii") != value:
        _fail(
            check,
            path,
            "is not the canonical base64 encoding of its bytes (padding bits or padding)",
            **about,
        )
    if size is not None and len(raw) != size:
        _fail(check, path, f"must hold {size} bytes, not {len(raw)}", **about)
    return raw


def _utc(value: Any, path: str, check: str, **about: Any) -> datetime:
    if type(value) is str and _UTC_TIMESTAMP.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            _fail(check, path, f"is not a real date and time: {value}", **about)
    _fail(check, path, f"must be a UTC timestamp such as 2026-05-01T08:00:00Z, not {_shown(value)}", **about)


def _rfc3339(value: Any) -> datetime | None:
    if type(value) is not str or not _RFC3339.match(value):
        return None
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _shown(value: Any) -> str:
    text = (
        json.dumps(value, ensure_ascii=False)
        if value is None or type(value) in (str, int, float, bool)
        else _type_name(value)
    )
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------------------
# The log key
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _LogKey:
    vkey: VerifierKey | None  # given as a vkey
    public_key: bytes  # the raw Ed25519 key

    @property
    def text(self) -> str:
        return self.vkey.vkey if self.vkey else base64.b64encode(self.public_key).decode("ascii")


def _log_key(text: str) -> _LogKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = load_public_key(text)
        except KeyFormatError as exc:
            raise UnusableInput("BAD_LOG_KEY", str(exc)) from None
        if algorithm_of(key) != "Ed25519":
            raise UnusableInput("BAD_LOG_KEY", "the log key must be an Ed25519 key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _LogKey(vkey=None, public_key=raw)
    try:
        vkey = parse_vkey(text)
    except NoteError as exc:
        raise UnusableInput("BAD_LOG_KEY", f"not a C2SP verifier key or a PEM public key: {exc}") from None
    if vkey.signature_type != SIGNATURE_TYPE_ED25519:
        raise UnusableInput("BAD_LOG_KEY", "the log key must be an Ed25519 note key (signature type 0x01)")
    return _LogKey(vkey=vkey, public_key=vkey.public_key)


def _canonical_vkey(value: Any, path: str, check: str) -> VerifierKey:
    text = _string(value, path, check)
    try:
        key = parse_vkey(text)
    except NoteError as exc:
        _fail(check, path, f"is not a verifier key: {exc}")
    if key.vkey != text:
        _fail(check, path, "is not written in the canonical form of its key")
    return key


# ---------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------
@dataclass
class _State:
    """The bundle and what the checks so far established; events are addressed by their position."""

    bundle: dict[str, Any]
    report: VerificationReport
    root: bytes = b""
    tree_size: int = 0
    hashes: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    subjects: list[tuple[str, str]] = field(default_factory=list)
    leaf_hashes: list[bytes] = field(default_factory=list)
    by_hash: dict[str, int] = field(default_factory=dict)


def _check_checkpoint(state: _State, trusted: _LogKey) -> None:
    bundle, report = state.bundle, state.report
    log = _fields(bundle["log"], _LOG_FIELDS, "log", "checkpoint")
    section = _fields(bundle["checkpoint"], _CHECKPOINT_FIELDS, "checkpoint", "checkpoint")
    key = _canonical_vkey(log["vkey"], "log.vkey", "checkpoint")
    if key.signature_type != SIGNATURE_TYPE_ED25519:
        _fail("checkpoint", "log.vkey", "must be an Ed25519 note key (signature type 0x01)")
    if trusted.vkey is not None and key.vkey != trusted.vkey.vkey:
        _fail(
            "checkpoint",
            "log.vkey",
            f"is {key.vkey}, not the log key given for verification ({trusted.vkey.vkey})",
        )
    if key.public_key != trusted.public_key:
        _fail("checkpoint", "log.vkey", "holds another public key than the log key given for verification")
    report.log_key = key.vkey
    origin = _string(log["origin"], "log.origin", "checkpoint")
    note = _string(section["note"], "checkpoint.note", "checkpoint")
    try:
        checkpoint = verify_checkpoint(note, key)
    except NoteError as exc:
        _fail("checkpoint", "checkpoint.note", f"does not verify with the log key {key.name}: {exc}")
    if origin != checkpoint.origin:
        _fail(
            "checkpoint", "log.origin", f"is {origin!r} but the checkpoint's origin is {checkpoint.origin!r}"
        )
    size = _integer(section["tree_size"], "checkpoint.tree_size", "checkpoint", minimum=0)
    if size != checkpoint.tree_size:
        _fail(
            "checkpoint", "checkpoint.tree_size", f"is {size} but the signed note says {checkpoint.tree_size}"
        )
    root_b64 = base64.b64encode(checkpoint.root_hash).decode("ascii")
    if section["root_hash_b64"] != root_b64:
        _fail(
            "checkpoint",
            "checkpoint.root_hash_b64",
            f"is {_shown(section['root_hash_b64'])} but the signed note says {root_b64}",
        )
    report.origin, report.tree_size, report.root_hash_b64 = checkpoint.origin, size, root_b64
    state.root, state.tree_size = checkpoint.root_hash, size

    parsed = parse_note(note)
    verified_lines: set[str] = set()
    for index, item in enumerate(_array(section["cosignatures"], "checkpoint.cosignatures", "checkpoint")):
        path = f"checkpoint.cosignatures[{index}]"
        item = _fields(item, _COSIGNATURE_FIELDS, path, "cosignature")
        witness = _canonical_vkey(item["vkey"], f"{path}.vkey", "cosignature")
        if witness.signature_type != SIGNATURE_TYPE_COSIGNATURE_V1:
            _fail("cosignature", f"{path}.vkey", "must be a cosignature/v1 key (signature type 0x04)")
        if item["witness"] != witness.name:
            _fail(
                "cosignature",
                f"{path}.witness",
                f"is {_shown(item['witness'])} but the key is named {witness.name!r}",
            )
        line = _string(item["line"], f"{path}.line", "cosignature")
        try:
            cosignature = verify_cosignature(line, body=parsed.text, key=witness)
        except NoteError as exc:
            _fail("cosignature", f"{path}.line", f"does not verify over the checkpoint: {exc}")
        if cosignature.line != line:
            _fail("cosignature", f"{path}.line", "is not the canonical encoding of its signature")
        verified_lines.add(line)
        report.cosignatures.append(
            WitnessCosignature(
                witness=witness.name, key_id=witness.key_id.hex(), timestamp=cosignature.timestamp
            )
        )
    # verify_note skips lines of keys it does not know, as C2SP says; in a bundle every byte must count.
    written = note[len(parsed.text) + 1 :].split("\n")[:-1]
    for number, (text, signature) in enumerate(zip(written, parsed.signatures, strict=True)):
        if signature.line != text:
            _fail("checkpoint", "checkpoint.note", f"signature line {number + 1} is not canonical base64")
        if (signature.name, signature.key_id) != (key.name, key.key_id) and text not in verified_lines:
            _fail(
                "checkpoint",
                "checkpoint.note",
                f"signature line {number + 1} ({signature.name}) is not the log's nor a listed cosignature",
            )
    report.passed.append("checkpoint")


# Event bodies: hashes and chains


_BODY_FIELDS = frozenset(
    {
        "v", "type", "subject", "seq", "prev_hash", "occurred_at", "recorded_at", "actor", "actor_id",
        "facility_id", "activity", "licence_id", "licence_status", "snapshots", "inputs", "data",
    }
)  # fmt: skip
# The C encoder itself, made once (JSONEncoder.encode builds a new one on every call), with the
# settings of _SORTED_ENCODER; None where the interpreter has no C JSON module.
_C_SORTED_ENCODER = (
    c_make_encoder(None, None, encode_basestring, None, ":", ",", True, False, False)
    if c_make_encoder is not None
    else None
)


def _safe_integer(value: Any) -> bool:
    return type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


def _usual_body(body: dict[str, Any]) -> bool:
    """Whether a body has the usual members under the usual names, with JSON values the C encoder
    writes as RFC 8785 does: then only containers inside `data` and `inputs` need the walk, which
    costs more than these checks."""
    if body.keys() != _BODY_FIELDS:
        return False
    subject, snapshots, inputs, data = body["subject"], body["snapshots"], body["inputs"], body["data"]
    if type(subject) is not dict or subject.keys() != _SUBJECT_FIELDS or type(snapshots) is not list:
        return False
    if type(data) is not dict or type(inputs) is not list:
        return False
    if type(subject["kind"]) not in _SCALARS or type(subject["code"]) not in _SCALARS:
        return False
    for name in _INTEGER_FIELDS:
        if not _safe_integer(body[name]):
            return False
    for name in _OPTIONAL_INTEGER_FIELDS:
        value = body[name]
        if value is not None and not _safe_integer(value):
            return False
    for name in _SCALAR_FIELDS:
        if type(body[name]) not in _SCALARS:
            return False
    for item in snapshots:
        if type(item) not in _SCALARS:
            return False
    if data:
        try:
            if not "".join(data).isascii():
                return False
        except TypeError:  # a member name that is not a string
            return False
        for value in data.values():
            if type(value) not in _SCALARS and not _plain(value):
                return False
    return not inputs or _plain(inputs)


_INTEGER_FIELDS = ("v", "seq", "actor_id")
_OPTIONAL_INTEGER_FIELDS = ("facility_id", "licence_id")
_SCALAR_FIELDS = ("type", "prev_hash", "occurred_at", "recorded_at", "actor", "activity", "licence_status")
_SCALARS = frozenset({str, bool, type(None)})


def _plain(value: Any) -> bool:
    """Whether the C encoder, sorting keys, writes exactly RFC 8785 for this value (see _event_bytes)."""
    stack: list[Any] = [value]
    pop, extend = stack.pop, stack.extend
    budget = _WALK_BUDGET  # an in-memory value may refer to itself; JSON never does
    while stack:
        value = pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is dict:
            budget -= len(value)
            try:
                if not "".join(value).isascii() or budget < 0:
                    return False
            except TypeError:  # a member name that is not a string
                return False
            extend(value.values())
        elif kind is list:
            budget -= len(value)
            if budget < 0:
                return False
            extend(value)
        elif kind is not int or not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return False
    return True


def _event_bytes(body: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of an event body: `core.canonical.canonicalize`, with a shortcut for the usual body.

    Event bodies hold strings, integers, booleans, nulls, objects and arrays under ASCII member names
    (masses are decimal strings). For such a value the C JSON encoder, sorting keys by code point and
    with ensure_ascii off, writes exactly RFC 8785: ASCII names sort alike by code point and by UTF-16
    unit, strings are escaped as JCS escapes them, safe integers print alike. A check of the usual
    fields (or, for any other shape, a walk of the whole value) proves those conditions without copying
    the value (core's fast path copies it, to handle floats and other names); anything else, a lone
    surrogate included (it fails the UTF-8 encoding), goes to `canonicalize`.
    """
    if not (_usual_body(body) or _plain(body)):
        return canonicalize(body)
    try:
        if _C_SORTED_ENCODER is not None:
            text = "".join(_C_SORTED_ENCODER(body, 0))
        else:
            text = _SORTED_ENCODER.encode(body)
        return text.encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError, TypeError):
        return canonicalize(body)


def _check_events(state: _State) -> None:
    """Event hashes and per-subject chains, in one pass over the events."""
    entries = _array(state.bundle["events"], "events", "event_hash")
    sha256 = hashlib.sha256
    hashes, bodies, subjects = state.hashes, state.bodies, state.subjects
    leaf_hashes, by_hash = state.leaf_hashes, state.by_hash
    is_hex64 = _HEX64.match
    chains: dict[tuple[str, str], tuple[int, str, int]] = {}  # subject: seq, hash, position of its last event
    for index, entry in enumerate(entries):
        if type(entry) is not dict or entry.keys() != _EVENT_FIELDS:
            _fields(entry, _EVENT_FIELDS, f"events[{index}]", "event_hash")
        claimed = entry["hash"]
        body = entry["body"]
        if type(body) is not dict:
            _fail("event_hash", f"events[{index}].body", f"must be an object, not {_type_name(body)}")
        try:
            digest = sha256(_event_bytes(body)).digest()
        except CanonicalizationError:
            _unhashable(body, f"events[{index}].body", "event_hash")
        if digest.hex() != claimed:
            _hex64(claimed, f"events[{index}].hash", "event_hash")
            _fail(
                "event_hash",
                f"events[{index}].hash",
                f"does not match its body, whose RFC 8785 SHA-256 is {digest.hex()}",
                event_hash=claimed,
            )
        if claimed in by_hash:
            _fail("event_hash", f"events[{index}]", f"repeats events[{by_hash[claimed]}]", event_hash=claimed)
        by_hash[claimed] = index
        hashes.append(claimed)
        bodies.append(body)
        leaf_hashes.append(sha256(_LEAF_PREFIX + digest).digest())

        subject = body.get("subject")
        seq = body.get("seq")
        previous = body.get("prev_hash", _ABSENT)
        if (
            type(subject) is not dict
            or subject.keys() != _SUBJECT_FIELDS
            or subject["kind"] not in SUBJECT_KINDS
            or type(subject["code"]) is not str
            or not subject["code"]
            or type(seq) is not int
            or seq < 0
            or not (previous is None or (type(previous) is str and is_hex64(previous)))
            or type(body.get("v")) is not int
            or body["v"] != 1
        ):
            _body_shape(body, index, claimed)
        key = (subject["kind"], subject["code"])
        subjects.append(key)
        last = chains.get(key)
        if last is None:
            if seq == 0 and previous is not None:
                _chain_fail(index, claimed, "prev_hash", "must be null at seq 0")
            if seq > 0 and previous is None:
                _chain_fail(
                    index, claimed, "prev_hash", f"must name the previous event at seq {seq}, not null"
                )
        else:
            last_seq, last_hash, last_position = last
            if seq != last_seq + 1:
                _chain_fail(
                    index,
                    claimed,
                    "seq",
                    f"is {seq}, but the previous event of {key[0]} {key[1]} in the bundle "
                    f"(events[{last_position}]) has seq {last_seq}: the chain is not contiguous",
                )
            if previous != last_hash:
                _chain_fail(
                    index,
                    claimed,
                    "prev_hash",
                    f"is {previous}, but the previous event of {key[0]} {key[1]} "
                    f"(events[{last_position}], seq {last_seq}) has hash {last_hash}",
                )
        chains[key] = (seq, claimed, index)
    state.report.events = len(hashes)
    state.report.subjects = len(chains)
    state.report.passed.append("events")


def _unhashable(value: Any, path: str, check: str, **about: Any) -> NoReturn:
    try:
        canonicalize(value, root=path)
    except CanonicalizationError as exc:
        _fail(check, exc.path, f"has no RFC 8785 form: {exc.message}", **about)
    raise AssertionError("canonicalize refused a value once and accepted it the second time")


def _chain_fail(index: int, digest: str, name: str, message: str) -> NoReturn:
    _fail("chain", f"events[{index}].body.{name}", message, event_hash=digest)


def _body_shape(body: dict[str, Any], index: int, digest: str) -> NoReturn:
    """Name the field of a body that the one-line check in `_check_events` refused."""
    path = f"events[{index}].body"
    about = {"event_hash": digest}
    if type(body.get("v")) is not int or body["v"] != 1:
        _fail(
            "chain",
            f"{path}.v",
            f"must be 1, this format's event version, not {_shown(body.get('v'))}",
            **about,
        )
    subject = _fields(body.get("subject"), _SUBJECT_FIELDS, f"{path}.subject", "chain", **about)
    if subject["kind"] not in SUBJECT_KINDS:
        _fail(
            "chain", f"{path}.subject.kind", f"must be battery or lot, not {_shown(subject['kind'])}", **about
        )
    if not _string(subject["code"], f"{path}.subject.code", "chain", **about):
        _fail("chain", f"{path}.subject.code", "must not be empty", **about)
    _integer(body.get("seq"), f"{path}.seq", "chain", minimum=0, **about)
    if "prev_hash" not in body:
        _fail("chain", f"{path}.prev_hash", "is missing", **about)
    _hex64(body["prev_hash"], f"{path}.prev_hash", "chain", **about)
    raise AssertionError("the one-line check refused a body that the detailed check accepts")


# Inclusion in the checkpoint's tree


def _check_inclusion(state: _State) -> None:
    """Every event's audit path leads to the checkpoint root: all at once when every leaf is here."""
    entries = state.bundle["events"]
    size = state.tree_size
    indexes: list[int] = []
    seen: dict[int, int] = {}
    for position, entry in enumerate(entries):
        leaf_index = entry["leaf_index"]
        if type(leaf_index) is not int or not 0 <= leaf_index < size or leaf_index in seen:
            path, about = f"events[{position}].leaf_index", {"event_hash": state.hashes[position]}
            _integer(leaf_index, path, "inclusion", minimum=0, **about)
            if leaf_index >= size:
                _fail(
                    "inclusion",
                    path,
                    f"is {leaf_index}, outside the checkpoint's tree of size {size}",
                    **about,
                )
            _fail("inclusion", path, f"is also the leaf index of events[{seen[leaf_index]}]", **about)
        seen[leaf_index] = position
        indexes.append(leaf_index)
    report = state.report
    if entries and len(entries) == size:
        report.inclusion = "tree"
        if _tree_agrees(state, indexes):
            report.passed.append("inclusion")
            return
    else:
        report.inclusion = "proofs"
    # Per event, in bundle order: the fallback, and how a disagreement found above is pinned on an event.
    _verify_paths(state, indexes)
    if report.inclusion == "tree":
        _fail("inclusion", "checkpoint.root_hash_b64", "is not the root of the tree of the bundle's events")
    report.passed.append("inclusion")


def _level_sizes(size: int) -> list[int]:
    """Node count of each level of RFC 9162's tree, leaves first: a lone last node is lifted unchanged."""
    counts = [size]
    while counts[-1] > 1:
        counts.append((counts[-1] + 1) // 2)
    return counts


def _tree_agrees(state: _State, indexes: Sequence[int]) -> bool:
    """Rebuild the tree from every leaf: whether its root and every event's audit path are the bundle's.

    Every level pairs its nodes left to right and lifts a lone last node unchanged (that is RFC 9162's
    MTH), so a leaf's audit path is its sibling on each level that has one. The expected paths are
    compared as base64 text, which also refuses a non-canonical encoding of the right bytes.
    """
    size = state.tree_size
    leaves: list[bytes] = [b""] * size
    for position, leaf_index in enumerate(indexes):
        leaves[leaf_index] = state.leaf_hashes[position]
    sha256 = hashlib.sha256
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1]
        parents = [
            sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) & 1:
            parents.append(level[-1])
        levels.append(parents)
    if levels[-1][0] != state.root:
        return False
    encode = binascii.b2a_base64
    columns: list[list[str | None]] = []  # per level, the sibling of each leaf's ancestor, in leaf order
    lone_from = size  # leaves from here on lack a sibling on some level: their paths are shorter
    for height, level in enumerate(levels[:-1]):
        count = len(level)
        text = [encode(node, newline=False).decode("ascii") for node in level]
        siblings: list[str | None] = [None] * count
        even = count - (count & 1)
        siblings[0:even:2] = text[1:even:2]
        siblings[1:even:2] = text[0:even:2]
        if count & 1:
            lone_from = min(lone_from, (count - 1) << height)
        span = 1 << height
        columns.append(list(chain.from_iterable(repeat(sibling, span) for sibling in siblings))[:size])
    expected = list(zip(*columns, strict=True)) if columns else [()] * size
    entries = state.bundle["events"]
    for position, leaf_index in enumerate(indexes):
        path = expected[leaf_index]
        if leaf_index >= lone_from:
            path = tuple(element for element in path if element is not None)
        proof = entries[position]["inclusion_proof_b64"]
        if type(proof) is not list or tuple(proof) != path:
            return False
    return True


def _verify_paths(state: _State, indexes: Sequence[int]) -> None:
    """Verify each audit path in bundle order, stopping where it meets a path already proven.

    Above the node where two paths meet, a valid path is the same for both (RFC 9162 paths are unique),
    so the rest of the later one must equal, as text, the rest of the proven one: hashing stops there.
    Over all events that hashes each node of the union of their paths once.
    """
    counts = _level_sizes(state.tree_size)
    entries = state.bundle["events"]
    leaf_hashes = state.leaf_hashes
    sha256 = hashlib.sha256
    decoded: dict[str, bytes] = {}
    proven: dict[tuple[int, int], tuple[bytes, int, int]] = {}  # node: hash, event position, elements used
    for position, leaf_index in enumerate(indexes):
        proof = entries[position]["inclusion_proof_b64"]
        if type(proof) is not list:
            _path_fail(state, position, leaf_index)
        current, node, used = leaf_hashes[position], leaf_index, 0
        fresh: list[tuple[int, int, bytes, int]] = []
        met: tuple[bytes, int, int] | None = None
        for level, count in enumerate(counts[:-1]):
            if node ^ 1 < count:
                if used >= len(proof):
                    _path_fail(state, position, leaf_index)
                element = proof[used]
                raw = decoded.get(element) if type(element) is str else None
                if raw is None:
                    raw = _hash_from_b64(element)
                    if raw is None:  # say why
                        _b64(
                            element,
                            f"events[{position}].inclusion_proof_b64[{used}]",
                            "inclusion",
                            size=32,
                            event_hash=state.hashes[position],
                        )
                    decoded[element] = raw
                current = sha256(
                    _NODE_PREFIX + raw + current if node & 1 else _NODE_PREFIX + current + raw
                ).digest()
                used += 1
            node >>= 1
            met = proven.get((level + 1, node))
            if met is not None:
                break
            fresh.append((level + 1, node, current, used))
        if met is not None:
            met_hash, met_position, met_used = met
            if met_hash != current or proof[used:] != entries[met_position]["inclusion_proof_b64"][met_used:]:
                _path_fail(state, position, leaf_index)
        elif used != len(proof) or current != state.root:
            _path_fail(state, position, leaf_index)
        for level, node, digest, count in fresh:
            proven[(level, node)] = (digest, position, count)


def _hash_from_b64(text: str) -> bytes | None:
    """A 32-byte hash from its canonical base64, or None: `_b64` without the messages, for the hot loop."""
    try:
        raw = binascii.a2b_base64(text)
        # a2b_base64 skips stray characters; re-encoding refuses them and any other non-canonical form.
        if len(raw) == HASH_SIZE and binascii.b2a_base64(raw, newline=False) == text.encode("ascii"):
            return raw
    except (binascii.Error, UnicodeEncodeError, TypeError, AttributeError):
        pass
    return None


def _path_fail(state: _State, position: int, leaf_index: int) -> NoReturn:
    """Name what is wrong with an event's audit path, through the reference verifier of `custody.merkle`."""
    path = f"events[{position}].inclusion_proof_b64"
    about = {"event_hash": state.hashes[position]}
    proof = _array(state.bundle["events"][position]["inclusion_proof_b64"], path, "inclusion", **about)
    elements = [
        _b64(item, f"{path}[{number}]", "inclusion", size=32, **about) for number, item in enumerate(proof)
    ]
    try:
        verify_inclusion(
            leaf=state.leaf_hashes[position],
            index=leaf_index,
            size=state.tree_size,
            proof=elements,
            root=state.root,
        )
    except ProofError as exc:
        _fail("inclusion", path, f"does not prove leaf {leaf_index} in the checkpoint's tree: {exc}", **about)
    raise AssertionError("an audit path refused here verifies in custody.merkle")


# Inputs of transformations


def _check_inputs(state: _State) -> None:
    report = state.report
    for position, body in enumerate(state.bodies):
        inputs = body.get("inputs", _ABSENT)
        if type(inputs) is list and not inputs:
            continue
        path = f"events[{position}].body.inputs"
        about = {"event_hash": state.hashes[position]}
        if inputs is _ABSENT:
            _fail("inputs", path, "is missing", **about)
        for number, item in enumerate(_array(inputs, path, "inputs", **about)):
            item_path = f"{path}[{number}]"
            if type(item) is not dict:
                _fail("inputs", item_path, f"must be an object, not {_type_name(item)}", **about)
            for name in sorted(_INPUT_REQUIRED - item.keys()):
                _fail("inputs", f"{item_path}.{name}", "is missing", **about)
            referenced = _hex64(item["event_hash"], f"{item_path}.event_hash", "inputs", **about)
            source = state.by_hash.get(referenced)
            if source is None:
                report.inputs_external += 1
                continue
            named, actual = (item["kind"], item["code"]), state.subjects[source]
            if named != actual:
                _fail(
                    "inputs",
                    item_path,
                    f"names {_shown(named[0])} {_shown(named[1])}, but its event_hash is an event of "
                    f"{actual[0]} {actual[1]!r} (events[{source}])",
                    **about,
                )
            report.inputs_resolved += 1
    report.passed.append("inputs")


@dataclass
class _Key:
    index: int
    key_id: str
    algorithm: str
    public_key: PublicKey
    purpose: str
    valid_from: datetime
    valid_until: datetime | None
    revocations: list[datetime]


def _read_keys(bundle: dict[str, Any]) -> dict[str, _Key]:
    keys: dict[str, _Key] = {}
    for index, record in enumerate(_array(bundle["keys"], "keys", "key")):
        path = f"keys[{index}]"
        record = _fields(record, _KEY_FIELDS, path, "key")
        claimed = _hex64(record["key_id"], f"{path}.key_id", "key")
        about = {"key_id": claimed}
        pem = _string(record["public_key_pem"], f"{path}.public_key_pem", "key", **about)
        try:
            public_key = load_public_key(pem)
        except KeyFormatError as exc:
            _fail("key", f"{path}.public_key_pem", f"is not a usable public key: {exc}", **about)
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Lines end in LF or CRLF and nothing else: str.splitlines() would also split at a form feed.
        lines = pem.replace("\r\n", "\n").removesuffix("\n").split("\n")
        if (
            len(lines) < 3
            or lines[0] != _PEM_HEADER
            or lines[-1] != _PEM_FOOTER
            or "".join(lines[1:-1]) != base64.b64encode(der).decode("ascii")
        ):
            _fail("key", f"{path}.public_key_pem", "is not the canonical PEM of its key", **about)
        actual_id = key_id(public_key)
        if actual_id != claimed:
            _fail(
                "key",
                f"{path}.key_id",
                f"does not match the public key, whose key id is {actual_id}",
                **about,
            )
        if claimed in keys:
            _fail("key", path, f"repeats keys[{keys[claimed].index}]", **about)
        algorithm = algorithm_of(public_key)
        if record["algorithm"] != algorithm:
            _fail(
                "key",
                f"{path}.algorithm",
                f"is {_shown(record['algorithm'])} but the key is {algorithm}",
                **about,
            )
        if record["purpose"] not in KEY_PURPOSES:
            _fail("key", f"{path}.purpose", f"must be one of {', '.join(sorted(KEY_PURPOSES))}", **about)
        valid_from = _utc(record["valid_from"], f"{path}.valid_from", "key", **about)
        valid_until = None
        if record["valid_until"] is not None:
            valid_until = _utc(record["valid_until"], f"{path}.valid_until", "key", **about)
            if valid_until <= valid_from:
                _fail("key", f"{path}.valid_until", "must be later than valid_from", **about)
        revocations = []
        for number, revocation in enumerate(
            _array(record["revocations"], f"{path}.revocations", "key", **about)
        ):
            revocation_path = f"{path}.revocations[{number}]"
            revocation = _fields(revocation, _REVOCATION_FIELDS, revocation_path, "key", **about)
            revocations.append(
                _utc(revocation["effective_at"], f"{revocation_path}.effective_at", "key", **about)
            )
            _string(revocation["reason"], f"{revocation_path}.reason", "key", **about)
        _string(record["organisation"], f"{path}.organisation", "key", **about)
        keys[claimed] = _Key(
            index, claimed, algorithm, public_key, record["purpose"], valid_from, valid_until, revocations
        )
    return keys


def _check_snapshots(state: _State) -> None:
    report = state.report
    keys = _read_keys(state.bundle)
    report.keys = len(keys)
    present: dict[str, int] = {}
    for index, item in enumerate(_array(state.bundle["snapshots"], "snapshots", "snapshot")):
        path = f"snapshots[{index}]"
        item = _fields(item, _SNAPSHOT_FIELDS, path, "snapshot")
        payload_hash = _hex64(item["payload_hash"], f"{path}.payload_hash", "snapshot")
        about = {"snapshot": payload_hash}
        if payload_hash in present:
            _fail("snapshot", path, f"repeats snapshots[{present[payload_hash]}]", **about)
        present[payload_hash] = index
        signature = _fields(item["signature"], _SIGNATURE_FIELDS, f"{path}.signature", "snapshot", **about)
        if signature["alg"] not in SIGNATURE_ALGORITHMS:
            _fail("snapshot", f"{path}.signature.alg", "must be Ed25519 or ECDSA-P256", **about)
        signer_id = _hex64(signature["key_id"], f"{path}.signature.key_id", "snapshot", **about)
        value = _b64(signature["value"], f"{path}.signature.value", "snapshot", **about)
        captured_at = _utc(item["captured_at"], f"{path}.captured_at", "snapshot", **about)
        battery_code = _string(item["battery_code"], f"{path}.battery_code", "snapshot", **about)
        payload = item["payload"]
        if payload is None:
            report.snapshots_withheld.append(payload_hash)
            report.uncovered.extend(f"{path}.{name}" for name in ("signature", "captured_at", "battery_code"))
            continue
        if type(payload) is not dict:
            _fail(
                "snapshot",
                f"{path}.payload",
                f"must be an object or null, not {_type_name(payload)}",
                **about,
            )
        try:
            canonical = canonicalize(payload, root=f"{path}.payload")
        except CanonicalizationError as exc:
            _fail("snapshot", exc.path, f"has no RFC 8785 form: {exc.message}", **about)
        actual = hashlib.sha256(canonical).hexdigest()
        if actual != payload_hash:
            _fail(
                "snapshot",
                f"{path}.payload_hash",
                f"does not match the payload, whose RFC 8785 SHA-256 is {actual}",
                **about,
            )
        key = keys.get(signer_id)
        if key is None:
            _fail("snapshot", f"{path}.signature.key_id", "names no key of the bundle's keys", **about)
        about["key_id"] = signer_id
        if signature["alg"] != key.algorithm:
            _fail(
                "snapshot",
                f"{path}.signature.alg",
                f"is {signature['alg']} but keys[{key.index}] is an {key.algorithm} key",
                **about,
            )
        if key.purpose != BMS_DEVICE:
            _fail(
                "snapshot",
                f"{path}.signature.key_id",
                f"names keys[{key.index}], a {key.purpose} key, not a BMS device key",
                **about,
            )
        if not verify_signature(key.public_key, canonical, value, alg=key.algorithm):
            _fail(
                "snapshot",
                f"{path}.signature.value",
                "does not verify over the RFC 8785 bytes of the payload",
                **about,
            )
        signed_at = _rfc3339(payload.get("captured_at"))
        if signed_at is None or signed_at != captured_at:
            _fail(
                "snapshot",
                f"{path}.captured_at",
                f"is not the payload's captured_at ({_shown(payload.get('captured_at'))})",
                **about,
            )
        if not _same_code(battery_code, payload.get("battery_code")):
            _fail(
                "snapshot",
                f"{path}.battery_code",
                f"is not the payload's battery_code ({_shown(payload.get('battery_code'))})",
                **about,
            )
        _key_valid_at(key, captured_at, path, about)
        report.snapshots_verified += 1
    referenced: set[str] = set()
    for position, body in enumerate(state.bodies):
        hashes = body.get("snapshots", _ABSENT)
        if type(hashes) is list and not hashes:
            continue
        path = f"events[{position}].body.snapshots"
        digest = state.hashes[position]
        if hashes is _ABSENT:
            _fail("snapshot", path, "is missing", event_hash=digest)
        for number, payload_hash in enumerate(_array(hashes, path, "snapshot", event_hash=digest)):
            _hex64(payload_hash, f"{path}[{number}]", "snapshot", event_hash=digest)
            if payload_hash not in present:
                _fail(
                    "snapshot",
                    f"{path}[{number}]",
                    "names a snapshot the bundle does not hold",
                    event_hash=digest,
                    snapshot=payload_hash,
                )
            referenced.add(payload_hash)
    report.snapshots = len(present)
    unreferenced = [index for payload_hash, index in present.items() if payload_hash not in referenced]
    report.snapshots_unreferenced = len(unreferenced)
    withheld = set(report.snapshots_withheld)
    report.uncovered.extend(
        f"snapshots[{index}]"
        for index in unreferenced
        if state.bundle["snapshots"][index]["payload_hash"] in withheld
    )
    report.passed.append("snapshots")


def _same_code(top: str, signed: Any) -> bool:
    """The bundle may carry the registered (normalised) form of the code the device wrote."""
    if type(signed) is not str:
        return False
    if top == signed:
        return True
    normalised = unicodedata.normalize("NFKC", signed).strip()
    return top in (normalised, normalised.upper())


def _key_valid_at(key: _Key, moment: datetime, path: str, about: dict[str, Any]) -> None:
    when = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    key_path = f"keys[{key.index}]"
    if moment < key.valid_from:
        _fail(
            "snapshot",
            f"{key_path}.valid_from",
            f"is later than {path}.captured_at ({when}): the key was not yet valid",
            **about,
        )
    if key.valid_until is not None and moment >= key.valid_until:
        _fail(
            "snapshot",
            f"{key_path}.valid_until",
            f"is not later than {path}.captured_at ({when}): the key had expired",
            **about,
        )
    for number, revoked in enumerate(key.revocations):
        if revoked <= moment:
            _fail(
                "snapshot",
                f"{key_path}.revocations[{number}].effective_at",
                f"is not later than {path}.captured_at ({when}): the key was revoked when it signed",
                **about,
            )


@dataclass(slots=True)
class _Interval:
    start: datetime
    end: datetime | None
    activities: frozenset[str]
    state: str


@dataclass
class _Licence:
    index: int
    facility_id: int
    intervals: list[_Interval]


def _read_licences(bundle: dict[str, Any]) -> dict[int, _Licence]:
    licences: dict[int, _Licence] = {}
    for index, record in enumerate(_array(bundle["licences"], "licences", "licence")):
        path = f"licences[{index}]"
        record = _fields(record, _LICENCE_FIELDS, path, "licence")
        licence_id = _integer(record["id"], f"{path}.id", "licence")
        about = {"licence_id": licence_id}
        if licence_id in licences:
            _fail("licence", f"{path}.id", f"repeats licences[{licences[licence_id].index}]", **about)
        facility_id = _integer(record["facility_id"], f"{path}.facility_id", "licence", **about)
        for name in ("facility", "timezone", "kind", "number", "issuing_authority"):
            _string(record[name], f"{path}.{name}", "licence", **about)
        intervals = []
        for number, interval in enumerate(
            _array(record["intervals"], f"{path}.intervals", "licence", **about)
        ):
            interval_path = f"{path}.intervals[{number}]"
            interval = _fields(interval, _INTERVAL_FIELDS, interval_path, "licence", **about)
            start = _utc(interval["from"], f"{interval_path}.from", "licence", **about)
            end = (
                None
                if interval["until"] is None
                else _utc(interval["until"], f"{interval_path}.until", "licence", **about)
            )
            if end is not None and end <= start:
                _fail("licence", f"{interval_path}.until", "must be later than from", **about)
            activities = _array(interval["activities"], f"{interval_path}.activities", "licence", **about)
            for position, activity in enumerate(activities):
                _string(activity, f"{interval_path}.activities[{position}]", "licence", **about)
            if interval["state"] not in LICENCE_STATES:
                _fail(
                    "licence",
                    f"{interval_path}.state",
                    f"must be one of {', '.join(sorted(LICENCE_STATES))}",
                    **about,
                )
            intervals.append(_Interval(start, end, frozenset(activities), interval["state"]))
        licences[licence_id] = _Licence(index, facility_id, intervals)
    return licences


def _check_licences(state: _State) -> None:
    report = state.report
    licences = _read_licences(state.bundle)
    report.licences = len(licences)
    moments: dict[str, datetime] = {}
    for position, body in enumerate(state.bodies):
        activity = body.get("activity", _ABSENT)
        facility_id = body.get("facility_id", _ABSENT)
        licence_id = body.get("licence_id", _ABSENT)
        status = body.get("licence_status", _ABSENT)
        if not (
            (activity is None or type(activity) is str)
            and (facility_id is None or type(facility_id) is int)
            and (licence_id is None or type(licence_id) is int)
            and (status is None or type(status) is str)
        ):
            _licence_fields(body, position, state.hashes[position])
        licensed_step = activity is not None and facility_id is not None
        if licence_id is None:
            if status is not None or licensed_step:
                _licence_fail(state, position, None, None)
            continue
        stamp = body.get("occurred_at")
        moment = moments.get(stamp) if type(stamp) is str else None
        if moment is None:
            path = f"events[{position}].body.occurred_at"
            about = {"event_hash": state.hashes[position], "licence_id": licence_id}
            moment = moments[stamp] = _utc(stamp, path, "licence", **about)
        licence = licences.get(licence_id)
        if licence is None or facility_id != licence.facility_id:
            _licence_fail(state, position, licence, moment)
        agrees = False
        for interval in licence.intervals:
            if interval.start <= moment and (interval.end is None or moment < interval.end):
                if licensed_step:
                    if interval.state == "active" and activity in interval.activities:
                        agrees = status == "active"
                        break
                elif interval.state == status:
                    agrees = True
                    break
        if not agrees:
            _licence_fail(state, position, licence, moment)
        report.licensed_events += 1
    report.passed.append("licences")


def _licence_fail(
    state: _State, position: int, licence: _Licence | None, moment: datetime | None
) -> NoReturn:
    """Say why an event and the licence it names disagree (the loop above only found that they do)."""
    body = state.bodies[position]
    path = f"events[{position}].body"
    activity, facility_id = body["activity"], body["facility_id"]
    licence_id, status, stamp = body["licence_id"], body["licence_status"], body.get("occurred_at")
    about: dict[str, Any] = {"event_hash": state.hashes[position]}
    if licence_id is None:
        if status is not None:
            _fail("licence", f"{path}.licence_status", f"is {status!r} but licence_id is null", **about)
        _fail(
            "licence",
            f"{path}.licence_id",
            f"is null, but {activity} at facility {facility_id} needs a licence covering it",
            **about,
        )
    about["licence_id"] = licence_id
    if licence is None:
        _fail("licence", f"{path}.licence_id", "names a licence the bundle does not hold", **about)
    if facility_id != licence.facility_id:
        _fail(
            "licence",
            f"{path}.licence_id",
            f"names a licence of facility {licence.facility_id}, but the event is at {facility_id}",
            **about,
        )
    if moment is None:
        raise AssertionError("an event with a licence reaches here with its occurred_at read")
    holding = [
        interval
        for interval in licence.intervals
        if interval.start <= moment and (interval.end is None or moment < interval.end)
    ]
    states = ", ".join(sorted({interval.state for interval in holding})) or "covered by no interval"
    if activity is not None and facility_id is not None:
        if not any(interval.state == "active" and activity in interval.activities for interval in holding):
            _fail(
                "licence",
                f"{path}.occurred_at",
                f"{stamp}: licences[{licence.index}] has no active interval for {activity} ({states})",
                **about,
            )
        _fail("licence", f"{path}.licence_status", f"is {status!r} but the licence was active", **about)
    _fail(
        "licence", f"{path}.licence_status", f"is {status!r} but the licence was {states} at {stamp}", **about
    )


def _licence_fields(body: dict[str, Any], position: int, digest: str) -> NoReturn:
    """Name the licence field of a body that the one-line check in `_check_licences` refused."""
    for name, kind, described in (
        ("activity", str, "a string"),
        ("facility_id", int, "an integer"),
        ("licence_id", int, "an integer"),
        ("licence_status", str, "a string"),
    ):
        path = f"events[{position}].body.{name}"
        if name not in body:
            _fail("licence", path, "is missing", event_hash=digest)
        value = body[name]
        if value is not None and type(value) is not kind:
            _fail("licence", path, f"must be {described} or null, not {_type_name(value)}", event_hash=digest)
    raise AssertionError("the one-line check refused licence fields that the detailed check accepts")


# ---------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------
_STAGES: tuple[tuple[str, Callable[[_State], None]], ...] = (
    ("events", _check_events),
    ("inclusion", _check_inclusion),
    ("inputs", _check_inputs),
    ("snapshots", _check_snapshots),
    ("licences", _check_licences),
)


def verify_bundle(bundle: dict[str, Any], log_vkey: str) -> VerificationReport:
    """Check a parsed bundle against the log key (a C2SP vkey or PEM text); stops at the first failure.

    Raises UnusableInput when the bundle is not of this format or the key cannot be read.
    """
    if type(bundle) is not dict:
        raise UnusableInput("NOT_A_BUNDLE", f"a bundle is a JSON object, not {_type_name(bundle)}")
    if bundle.get("format") != FORMAT:
        raise UnusableInput("WRONG_FORMAT", f"format is {_shown(bundle.get('format'))}, expected {FORMAT!r}")
    trusted = _log_key(log_vkey)
    report = VerificationReport()
    state = _State(bundle=bundle, report=report)
    try:
        _fields(bundle, _TOP_FIELDS, "", "bundle")
        started = time.perf_counter()
        _check_checkpoint(state, trusted)
        report.timings["checkpoint"] = time.perf_counter() - started
        for name, stage in _STAGES:
            started = time.perf_counter()
            stage(state)
            report.timings[name] = time.perf_counter() - started
    except _Stop as stop:
        report.failure = stop.failure
        return report
    report.ok = True
    return report


def parse_bundle(raw: bytes) -> dict[str, Any]:
    """Strictly parse the bytes of a bundle: duplicate keys, huge numbers and lone surrogates are refused."""
    try:
        document = parse_json_strict(raw, max_bytes=MAX_BUNDLE_BYTES, max_depth=MAX_DEPTH)
    except StrictJsonError as exc:
        raise UnusableInput("NOT_JSON", f"not usable JSON: {exc}") from None
    if type(document) is not dict:
        raise UnusableInput("NOT_A_BUNDLE", f"a bundle is a JSON object, not {_type_name(document)}")
    return document


def load_bundle(path: str | Path) -> dict[str, Any]:
    """Read and strictly parse a bundle file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UnusableInput("UNREADABLE", f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_bundle(raw)


def _read_key_argument(argument: str) -> str:
    candidate = Path(argument)
    try:
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UnusableInput("BAD_LOG_KEY", f"cannot read the log key file {argument}: {exc}") from None
    return argument


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m custody.verify",
        description="Verify a Voltrace custody bundle offline against the transparency log's public key.",
    )
    parser.add_argument("bundle", help="the bundle file (JSON, format voltrace.custody-bundle/1)")
    parser.add_argument(
        "--log-key",
        required=True,
        help="the log's C2SP verifier key, or a file holding it or its PEM public key",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable result")
    arguments = parser.parse_args(argv)
    try:
        key_text = _read_key_argument(arguments.log_key)
        bundle = load_bundle(arguments.bundle)
        report = verify_bundle(bundle, key_text)
    except UnusableInput as unusable:
        if arguments.json:
            print(
                json.dumps(
                    {"ok": False, "error": {"code": unusable.code, "message": unusable.message}}, indent=2
                )
            )
        else:
            print(f"UNUSABLE INPUT [{unusable.code}]: {unusable.message}", file=sys.stderr)
        return 2
    if arguments.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(f"Voltrace custody bundle {arguments.bundle}")
        print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
