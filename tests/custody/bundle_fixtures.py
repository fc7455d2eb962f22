"""Valid custody bundles (format voltrace.custody-bundle/1) built in pure Python for tests and benchmarks.

No Django and no database: events for a few batteries and material lots with correct hash chains, an
RFC 9162 tree over their hashes (optionally with leaves of events outside the bundle) with an inclusion
proof per event, a checkpoint signed by a generated Ed25519 log key and cosigned by witnesses, snapshots
signed by device keys (Ed25519 and ECDSA P-256, some with their payload withheld), and licences whose
intervals cover every licensed step. Everything is derived from `seed`, except ECDSA signatures, which
are randomised by nature.

`BundleKit.reseal()` recomputes event hashes, the tree, the proofs and the checkpoint from the bodies as
they stand, without repairing chain links: tests use it to play a log that signs whatever it is given,
so that a check deeper than the event hashes and the checkpoint is the one that fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.canonical import canonicalize, sha256_hex
from core.signing import PrivateKey, algorithm_of, key_id, public_key_pem, sign
from custody.checkpoint import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    NoteSigner,
    VerifierKey,
    format_checkpoint_body,
    format_note,
    sign_cosignature,
)
from custody.merkle import MemoryTree, inclusion_proof, leaf_hash, root_at

FORMAT = "voltrace.custody-bundle/1"
LOG_ORIGIN = "voltrace.test/custody-log"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))

OEM = ("Ningde Cells Co.", 1)
RECYCLER = ("Green Loop Recycling", 7, 3)  # name, organisation id, facility id
SECOND_SITE = ("Second Life Energy", 9, 4)
RECYCLER_LICENCE = 12
SECOND_SITE_LICENCE = 15


def utc_text(moment: datetime) -> str:
    """A UTC instant as the contract writes it: second precision and a Z suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _derived(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"voltrace-bundle-fixture:{seed}:{label}".encode()).digest()


def ed25519_key(seed: int, label: str) -> ed25519.Ed25519PrivateKey:
    """A deterministic Ed25519 private key."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(_derived(seed, label))


def p256_key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    """A deterministic ECDSA P-256 private key."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(_derived(seed, label), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def event_hash(body: dict[str, Any]) -> str:
    """What the verifier recomputes: hex SHA-256 of the RFC 8785 bytes of the body."""
    return sha256_hex(canonicalize(body))


# Step types of a battery, in chain order; a chain longer than this repeats the last one.
_BATTERY_STEPS: tuple[tuple[str, str | None, tuple[str, int, int | None] | None, int | None], ...] = (
    # type, activity, (actor, actor id, facility id) or None for the OEM, licence id
    ("registered", None, None, None),
    ("intake", "intake", RECYCLER, RECYCLER_LICENCE),
    ("graded", "storage", RECYCLER, RECYCLER_LICENCE),
    ("transfer_initiated", None, RECYCLER, None),
    ("transfer_accepted", "intake", SECOND_SITE, SECOND_SITE_LICENCE),
    ("dismantled", "dismantling", SECOND_SITE, SECOND_SITE_LICENCE),
    ("recycled", "material_recovery", SECOND_SITE, SECOND_SITE_LICENCE),
    ("inspected", "storage", SECOND_SITE, SECOND_SITE_LICENCE),
)
_SNAPSHOT_STEPS = frozenset({"intake", "graded"})


@dataclass
class BundleKit:
    """A generated bundle with the secrets that made it, so tests can re-sign what they change."""

    bundle: dict[str, Any]
    log_signer: NoteSigner
    witnesses: list[tuple[str, ed25519.Ed25519PrivateKey]]
    foreign_leaves: list[bytes]
    cosigned_note: bool
    device_keys: dict[str, PrivateKey] = field(default_factory=dict)

    @property
    def log_vkey(self) -> str:
        return self.log_signer.verifier.vkey

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.bundle["events"]

    def dumps(self) -> bytes:
        """The bundle file: indented (so that tamper tests meet whitespace too), UTF-8, a final newline."""
        return (json.dumps(self.bundle, indent=1, ensure_ascii=False) + "\n").encode("utf-8")

    def write(self, path: Path) -> Path:
        path.write_bytes(self.dumps())
        return path

    def reseal(self, *, relink: bool = False, cosign: bool = True) -> None:
        """Rehash every event body, rebuild the tree and proofs and sign a new checkpoint.

        With `relink`, references to a rehashed event (the next event's prev_hash, inputs) follow it,
        as if the edited body had been recorded that way; without, they keep the old hash.
        """
        renamed: dict[str, str] = {}
        for entry in self.events:
            body = entry["body"]
            if relink:
                body["prev_hash"] = renamed.get(body["prev_hash"], body["prev_hash"])
                for item in body["inputs"]:
                    item["event_hash"] = renamed.get(item["event_hash"], item["event_hash"])
            digest = event_hash(body)
            renamed[entry["hash"]] = digest
            entry["hash"] = digest
        _seal(self, cosign=cosign)


def _payload(battery_code: str, captured: datetime, device: str, sequence: int) -> dict[str, Any]:
    # Written in the device's local time: the bundle's captured_at is the same instant in UTC.
    return {
        "battery_code": battery_code,
        "captured_at": captured.astimezone(CHINA_STANDARD_TIME).isoformat(),
        "device_id": device,
        "sequence": sequence,
        "soc_pct": 54.5,
        "soh_pct": 91.25,
        "cycle_count": 412 + sequence,
        "pack_voltage_v": 355.2,
        "cell_voltage_min_v": 3.281,
        "cell_voltage_max_v": 3.302,
        "cell_temp_min_c": 21,
        "cell_temp_max_c": 24.5,
        "insulation_resistance_kohm": 2150,
        "alarms": {"overvoltage": False},
    }


def _key_record(private: PrivateKey, *, organisation: str, revoked_at: datetime | None) -> dict[str, Any]:
    public = private.public_key()
    return {
        "key_id": key_id(public),
        "algorithm": algorithm_of(public),
        "public_key_pem": public_key_pem(public),
        "organisation": organisation,
        "purpose": "bms_device",
        "valid_from": utc_text(T0 - timedelta(days=400)),
        "valid_until": None if revoked_at is None else utc_text(T0 + timedelta(days=2000)),
        "revocations": []
        if revoked_at is None
        else [{"effective_at": utc_text(revoked_at), "reason": "replaced"}],
    }


def _licences() -> list[dict[str, Any]]:
    def interval(start: datetime, end: datetime | None, activities: list[str], state: str) -> dict[str, Any]:
        return {
            "from": utc_text(start),
            "until": None if end is None else utc_text(end),
            "activities": activities,
            "state": state,
        }

    recycler_activities = ["intake", "storage"]
    second_activities = ["intake", "storage", "dismantling", "material_recovery"]
    return [
        {
            "id": RECYCLER_LICENCE,
            "facility_id": RECYCLER[2],
            "facility": "Green Loop Recycling — Ganzhou plant",
            "timezone": "Asia/Shanghai",
            "kind": "miit_recycling",
            "number": "GZ-2025-0042",
            "issuing_authority": "Jiangxi Department of Industry and Information Technology",
            "intervals": [
                interval(T0 - timedelta(days=60), T0 + timedelta(days=900), recycler_activities, "active"),
                interval(T0 + timedelta(days=900), None, recycler_activities, "expired"),
            ],
        },
        {
            "id": SECOND_SITE_LICENCE,
            "facility_id": SECOND_SITE[2],
            "facility": "Second Life Energy — Changsha",
            "timezone": "Asia/Shanghai",
            "kind": "miit_second_life",
            "number": "HN-2024-0117",
            "issuing_authority": "Hunan Department of Industry and Information Technology",
            "intervals": [
                interval(T0 - timedelta(days=90), T0 + timedelta(days=1000), second_activities, "active"),
                interval(T0 + timedelta(days=1000), None, second_activities, "suspended"),
            ],
        },
    ]


def build_bundle(
    *,
    batteries: int = 3,
    events_per_battery: int = 6,
    lots: int = 1,
    foreign_leaves: int = 0,
    withheld_every: int = 3,
    snapshot_batteries: int | None = None,
    witnesses: int = 1,
    cosigned_note: bool = False,
    seed: int = 7,
) -> BundleKit:
    """A bundle that verifies: chains interleaved round-robin, then `lots` lots made from the batteries.

    `foreign_leaves` adds leaves of events outside the bundle to the tree (so not every leaf is in the
    bundle); every `withheld_every`-th snapshot has its payload withheld (0: none); only the first
    `snapshot_batteries` batteries get snapshots (None: all).
    """
    device_keys: list[PrivateKey] = [
        ed25519_key(seed, "device-a"),
        p256_key(seed, "device-b"),
        ed25519_key(seed, "device-c"),
    ]
    revoked_at = T0 + timedelta(days=1500)  # after every capture: the key verifies, revocation is on record
    keys = [
        _key_record(device_keys[0], organisation="Ningde Cells Co.", revoked_at=None),
        _key_record(device_keys[1], organisation="Ningde Cells Co.", revoked_at=None),
        _key_record(device_keys[2], organisation="Green Loop Recycling", revoked_at=revoked_at),
    ]
    codes = [f"036PB{seed % 100:02d}GD{index:08d}" for index in range(batteries)]
    last_hash: dict[str, str | None] = dict.fromkeys(codes)
    events: list[dict[str, Any]] = []
    snapshots: list[dict[str, Any]] = []
    snapshot_count = 0
    moment = T0
    for step in range(events_per_battery):
        kind, activity, site, licence = _BATTERY_STEPS[min(step, len(_BATTERY_STEPS) - 1)]
        for number, code in enumerate(codes):
            moment += timedelta(minutes=1)
            actor, actor_id, facility_id = site if site is not None else (*OEM, None)
            snapshot_hashes: list[str] = []
            if kind in _SNAPSHOT_STEPS and (snapshot_batteries is None or number < snapshot_batteries):
                key_index = snapshot_count % len(device_keys)
                private = device_keys[key_index]
                captured = moment - timedelta(minutes=10)
                payload = _payload(code, captured, f"BMS-{number:06d}", step)
                canonical = canonicalize(payload)
                payload_hash = sha256_hex(canonical)
                withheld = withheld_every > 0 and snapshot_count % withheld_every == withheld_every - 1
                snapshots.append(
                    {
                        "payload_hash": payload_hash,
                        "signature": {
                            "alg": algorithm_of(private),
                            "key_id": keys[key_index]["key_id"],
                            "value": base64.b64encode(sign(private, canonical)).decode("ascii"),
                        },
                        "captured_at": utc_text(captured),
                        "battery_code": code,
                        "payload": None if withheld else payload,
                    }
                )
                snapshot_hashes.append(payload_hash)
                snapshot_count += 1
            body = {
                "v": 1,
                "type": kind,
                "subject": {"kind": "battery", "code": code},
                "seq": step,
                "prev_hash": last_hash[code],
                "occurred_at": utc_text(moment),
                "recorded_at": utc_text(moment + timedelta(seconds=3)),
                "actor": actor,
                "actor_id": actor_id,
                "facility_id": facility_id,
                "activity": activity,
                "licence_id": licence,
                "licence_status": "active" if licence is not None else None,
                "snapshots": snapshot_hashes,
                "inputs": [],
                "data": _step_data(kind, step),
            }
            digest = event_hash(body)
            last_hash[code] = digest
            events.append({"hash": digest, "body": body, "leaf_index": 0, "inclusion_proof_b64": []})
    for lot in range(lots):
        members = codes[lot::lots][:5]
        inputs = [
            {"kind": "battery", "code": code, "event_hash": last_hash[code], "mass_kg": "312.500"}
            for code in members
            if last_hash[code] is not None
        ]
        lot_code = f"LOT-BM-{seed % 100:02d}{lot:04d}"
        previous: str | None = None
        for seq, (kind, activity, licence) in enumerate(
            (
                ("lot_created", "material_recovery", SECOND_SITE_LICENCE),
                ("transfer_initiated", None, None),
            )
        ):
            moment += timedelta(minutes=1)
            body = {
                "v": 1,
                "type": kind,
                "subject": {"kind": "lot", "code": lot_code},
                "seq": seq,
                "prev_hash": previous,
                "occurred_at": utc_text(moment),
                "recorded_at": utc_text(moment + timedelta(seconds=2)),
                "actor": SECOND_SITE[0],
                "actor_id": SECOND_SITE[1],
                "facility_id": SECOND_SITE[2],
                "activity": activity,
                "licence_id": licence,
                "licence_status": "active" if licence is not None else None,
                "snapshots": [],
                "inputs": inputs if seq == 0 else [],
                "data": {"material": "black_mass", "mass_kg": f"{312.5 * len(inputs) * 0.62:.3f}"}
                if seq == 0
                else {"to_organisation": "Cathode Materials Ltd"},
            }
            previous = event_hash(body)
            events.append({"hash": previous, "body": body, "leaf_index": 0, "inclusion_proof_b64": []})
    kit = BundleKit(
        bundle={
            "format": FORMAT,
            "generated_at": utc_text(moment + timedelta(hours=1)),
            "scope": {
                "kind": "battery",
                "codes": codes[:3],
                "requested_by": "Test Auditor",
                "note": "fixture",
            },
            "log": {"origin": LOG_ORIGIN, "vkey": ""},
            "checkpoint": {},
            "events": events,
            "snapshots": snapshots,
            "keys": keys,
            "licences": _licences(),
        },
        log_signer=NoteSigner(LOG_ORIGIN, ed25519_key(seed, "log")),
        witnesses=[
            (f"witness-{index}.test", ed25519_key(seed, f"witness-{index}")) for index in range(witnesses)
        ],
        foreign_leaves=[_derived(seed, f"foreign-{index}") for index in range(foreign_leaves)],
        cosigned_note=cosigned_note,
        device_keys={record["key_id"]: private for record, private in zip(keys, device_keys, strict=True)},
    )
    _seal(kit, cosign=True)
    return kit


def _step_data(kind: str, step: int) -> dict[str, Any]:
    if kind == "graded":
        return {"grade": "B", "method": "capacity test", "lab": "Ganzhou Battery Test Centre"}
    if kind == "transfer_initiated":
        return {"to_organisation": SECOND_SITE[0], "to_facility_id": SECOND_SITE[2]}
    if kind in {"dismantled", "recycled"}:
        return {"mass_kg": "312.500", "method": "manual"}
    if kind == "inspected":
        return {"round": step}
    return {}


def _seal(kit: BundleKit, *, cosign: bool) -> None:
    """Lay out the leaves (foreign ones spread among the events), prove each event and sign."""
    events = kit.events
    foreign = list(kit.foreign_leaves)
    layout: list[bytes] = []
    stride = max(1, len(events) // (len(foreign) + 1)) if foreign else 0
    for position, entry in enumerate(events):
        if foreign and position % stride == 0:
            layout.append(leaf_hash(foreign.pop()))
        entry["leaf_index"] = len(layout)
        layout.append(leaf_hash(bytes.fromhex(entry["hash"])))
    layout.extend(leaf_hash(leaf) for leaf in foreign)
    tree = MemoryTree()
    tree.append_leaf_hashes(layout)
    size = tree.size
    root = root_at(tree, size)
    for entry in events:
        entry["inclusion_proof_b64"] = [
            base64.b64encode(element).decode("ascii")
            for element in inclusion_proof(tree, entry["leaf_index"], size)
        ]
    signer = kit.log_signer
    body = format_checkpoint_body(signer.name, size, root)
    log_line = signer.sign_line(body)
    cosignatures = []
    if cosign:
        for index, (name, private) in enumerate(kit.witnesses):
            line = sign_cosignature(
                name=name, private_key=private, body=body, timestamp=1_790_000_000 + index
            )
            public = private.public_key().public_bytes_raw()
            vkey = VerifierKey(
                name=name, signature_type=SIGNATURE_TYPE_COSIGNATURE_V1, public_key=public
            ).vkey
            cosignatures.append({"witness": name, "vkey": vkey, "line": line})
    lines = [log_line] + ([item["line"] for item in cosignatures] if kit.cosigned_note else [])
    kit.bundle["log"] = {"origin": signer.name, "vkey": signer.verifier.vkey}
    kit.bundle["checkpoint"] = {
        "note": format_note(body, lines),
        "tree_size": size,
        "root_hash_b64": base64.b64encode(root).decode("ascii"),
        "cosignatures": cosignatures,
    }
