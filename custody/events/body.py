"""The event body: exactly the object whose RFC 8785 bytes are hashed (voltrace.custody-bundle/1).

The stored `CustodyEvent.body` is the canonical text itself, so its SHA-256 is the event hash and a
bundle can hand out the very bytes that were hashed. Everything here is pure: no database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.canonical import canonicalize

BODY_VERSION = 1


def instant(moment: datetime) -> str:
    """UTC, second precision, Z suffix: the only time format in a body."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_second(moment: datetime) -> datetime:
    """The instant truncated to the second, as stored beside the body."""
    return moment.astimezone(UTC).replace(microsecond=0)


def next_second(moment: datetime) -> datetime:
    """The instant rounded up to the second: a step recorded "now" is never dated before something that
    happened earlier in the same second (a suspension a moment ago must refuse it)."""
    whole = to_second(moment)
    return whole if whole == moment.astimezone(UTC) else whole + timedelta(seconds=1)


def mass_text(mass: Decimal | None) -> str | None:
    """A mass in kg as a decimal string to the gram (`12.500`)."""
    return None if mass is None else f"{mass.quantize(Decimal('0.001')):f}"


@dataclass(frozen=True)
class BodyInput:
    """One consumed subject in a body's `inputs`."""

    kind: str  # "battery" | "lot"
    code: str
    event_hash: bytes
    mass_kg: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": self.code,
            "event_hash": self.event_hash.hex(),
            "mass_kg": mass_text(self.mass_kg),
        }


def event_body(
    *,
    type: str,
    subject_kind: str,
    subject_code: str,
    seq: int,
    prev_hash: bytes | None,
    occurred_at: datetime,
    recorded_at: datetime,
    actor: str,
    actor_id: int,
    facility_id: int | None,
    activity: str | None,
    licence_id: int | None,
    licence_status: str | None,
    snapshots: list[str],
    inputs: list[BodyInput],
    data: dict[str, Any],
) -> dict[str, Any]:
    """The body as the bundle format defines it."""
    # Plain strings: a TextChoices member is a str subclass, which the canonical fast path declines.
    return {
        "v": BODY_VERSION,
        "type": str(type),
        "subject": {"kind": subject_kind, "code": subject_code},
        "seq": seq,
        "prev_hash": prev_hash.hex() if prev_hash is not None else None,
        "occurred_at": instant(occurred_at),
        "recorded_at": instant(recorded_at),
        "actor": actor,
        "actor_id": actor_id,
        "facility_id": facility_id,
        "activity": str(activity) if activity else None,
        "licence_id": licence_id,
        "licence_status": str(licence_status) if licence_status else None,
        "snapshots": sorted(snapshots),
        "inputs": [item.as_dict() for item in inputs],
        "data": data,
    }


def seal(body: dict[str, Any]) -> tuple[str, bytes]:
    """The canonical text of a body and its SHA-256 (the event hash)."""
    canonical = canonicalize(body)
    return canonical.decode("utf-8"), hashlib.sha256(canonical).digest()


def fingerprint(operation: str, fields: dict[str, Any]) -> str:
    """A request's fingerprint: what a retried request with the same idempotency key must repeat."""
    return hashlib.sha256(canonicalize({"operation": operation, "fields": fields})).hexdigest()
