"""Building a verification bundle (voltrace.custody-bundle/1, see the README): everything a third party
needs to check a custody history offline with the bundle and the log's public key.

The bundle is produced as a stream of text chunks, so an HTTP response or a file can be written with
bounded memory whatever the number of events: events are read in batches, each batch's inclusion
proofs come from the stored tree in one query, and each event's body is the stored canonical text,
exactly the bytes that were hashed. Before streaming, every event is made part of the log and of a
signed checkpoint (sequencing what is queued and publishing a checkpoint on demand).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from crossborder.errors import CrossBorderRefused
from custody.events.models import BundleExport, CustodyEvent
from custody.lots.models import MaterialLot
from custody.merkle import inclusion_ranges, range_hashes
from custody.selectors.trace import reachable_subjects
from custody.transparency.keys import log_signer
from custody.transparency.models import Checkpoint, LogLeaf, PendingLeaf
from custody.transparency.selectors import checkpoint_cosignatures
from custody.transparency.services import publish_checkpoint, sequence_pending
from custody.transparency.store import StoredTree
from licensing.models import Licence, LicenceEvent
from passport import access
from passport.attributes import AUTHORITY
from passport.models import Battery, DeviceKey
from passport.snapshots.models import Snapshot
from passport.snapshots.services import read_raw_telemetry

FORMAT = "voltrace.custody-bundle/1"
BATCH = 500
PAYLOAD_PURPOSE = "Verification bundle export (custody chain with signed BMS snapshots)"
WITHHELD = "withheld"  # a battery whose payloads the cross-border gate refused to this reader


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z; fractions of a second only when there are any (licence boundaries)."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    if text.endswith(".000000"):
        text = text[: -len(".000000")]
    return text + "Z"


class BundleError(DomainError):
    status_code = 409
    default_code = "BUNDLE_UNAVAILABLE"


@dataclass
class BundleScope:
    """The subjects a bundle covers, and whether the units and lots they came from are included."""

    batteries: list[Battery] = field(default_factory=list)
    lots: list[MaterialLot] = field(default_factory=list)
    trace: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "batteries": [battery.code for battery in self.batteries],
            "lots": [lot.code for lot in self.lots],
            "trace": self.trace,
        }


@dataclass
class PreparedBundle:
    scope: BundleScope
    battery_ids: set[int]
    lot_ids: set[int]
    checkpoint: Checkpoint
    event_count: int

    def events(self) -> QuerySet[CustodyEvent]:
        leaf = LogLeaf.objects.filter(event_hash=OuterRef("hash")).values("index")[:1]
        return (
            CustodyEvent.objects.filter(Q(battery_id__in=self.battery_ids) | Q(lot_id__in=self.lot_ids))
            .annotate(leaf_index=Subquery(leaf, output_field=IntegerField()))
            .order_by("battery_id", "lot_id", "seq")
        )


def prepare_bundle(scope: BundleScope) -> PreparedBundle:
    """Resolve the subjects and make sure a signed checkpoint covers every one of their events."""
    battery_ids = {battery.pk for battery in scope.batteries}
    lot_ids = {lot.pk for lot in scope.lots}
    if scope.trace:
        reached_batteries, reached_lots = reachable_subjects(
            lot_ids=sorted(lot_ids), battery_ids=sorted(battery_ids)
        )
        battery_ids |= reached_batteries
        lot_ids |= reached_lots
    events = CustodyEvent.objects.filter(Q(battery_id__in=battery_ids) | Q(lot_id__in=lot_ids))
    if not events.exists():
        raise BundleError(_("There are no custody events to put in a bundle."), code="BUNDLE_EMPTY")
    in_log = LogLeaf.objects.filter(event_hash=OuterRef("hash"))
    if events.exclude(Exists(in_log)).exists():
        sequence_pending()
    missing = events.exclude(Exists(in_log))
    if missing.exists():
        queued = missing.filter(Exists(PendingLeaf.objects.filter(event_hash=OuterRef("hash")))).exists()
        raise BundleError(
            _("Some events are still queued for the transparency log; try again in a few seconds.")
            if queued
            else _("Some events are missing from the transparency log; run the integrity self-audit."),
            code="LOG_INCOMPLETE",
        )
    last_leaf = max(
        LogLeaf.objects.filter(event_hash__in=Subquery(events.values("hash"))).values_list("index", flat=True)
    )
    checkpoint = Checkpoint.objects.order_by("-id").first()
    if checkpoint is None or checkpoint.tree_size <= last_leaf:
        checkpoint = publish_checkpoint() or Checkpoint.objects.order_by("-id").first()
    if checkpoint is None or checkpoint.tree_size <= last_leaf:
        raise BundleError(_("No signed checkpoint covers these events yet."), code="LOG_INCOMPLETE")
    return PreparedBundle(
        scope=scope,
        battery_ids=battery_ids,
        lot_ids=lot_ids,
        checkpoint=checkpoint,
        event_count=events.count(),
    )


# ---------------------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _checkpoint_section(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "note": checkpoint.note,
        "tree_size": checkpoint.tree_size,
        "root_hash_b64": base64.b64encode(bytes(checkpoint.root_hash)).decode("ascii"),
        "cosignatures": [
            {
                "witness": cosignature.witness_key.name,
                "vkey": cosignature.witness_key.verifier.vkey,
                "line": cosignature.line,
            }
            for cosignature in checkpoint_cosignatures(checkpoint)
        ],
    }


def _event_batches(prepared: PreparedBundle) -> Iterator[list[tuple[str, str, int]]]:
    rows = prepared.events().values_list("hash", "body", "leaf_index").iterator(chunk_size=BATCH)
    batch: list[tuple[str, str, int]] = []
    for event_hash, body, leaf_index in rows:
        batch.append((bytes(event_hash).hex(), body, int(leaf_index)))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _events(prepared: PreparedBundle, snapshot_hashes: set[str], facility_ids: set[int]) -> Iterator[str]:
    size = prepared.checkpoint.tree_size
    first = True
    for batch in _event_batches(prepared):
        # One read of the stored tree serves the whole batch's inclusion paths.
        paths = [inclusion_ranges(leaf_index, size) for _hash, _body, leaf_index in batch]
        hashes = range_hashes(StoredTree(), [entry for path in paths for entry in path])
        position = 0
        chunk: list[str] = []
        for (event_hash, body, leaf_index), path in zip(batch, paths, strict=True):
            proof = hashes[position : position + len(path)]
            position += len(path)
            parsed = json.loads(body)
            snapshot_hashes.update(parsed.get("snapshots") or [])
            if parsed.get("facility_id") is not None:
                facility_ids.add(int(parsed["facility_id"]))
            proof_b64 = _dumps([base64.b64encode(step).decode("ascii") for step in proof])
            chunk.append(
                ("" if first else ",\n")
                + f'{{"hash": "{event_hash}", "body": {body}, "leaf_index": {leaf_index}, '
                + f'"inclusion_proof_b64": {proof_b64}}}'
            )
            first = False
        yield "".join(chunk)


def _snapshots(hashes: set[str], *, reader: Any, key_ids: set[int], tiers: dict[int, str]) -> Iterator[str]:
    ordered = sorted(hashes)
    first = True
    for start in range(0, len(ordered), BATCH):
        rows = (
            Snapshot.objects.filter(payload_hash__in=ordered[start : start + BATCH])
            .select_related("battery__oem", "battery__current_custodian", "device_key")
            .order_by("payload_hash")
        )
        for snapshot in rows:
            key_ids.add(snapshot.device_key_id)
            payload = None
            if reader is not None:
                tier = tiers.get(snapshot.battery_id)
                if tier is None:
                    tier = tiers[snapshot.battery_id] = access.tier_for(snapshot.battery, reader)
                if tier == AUTHORITY:
                    try:
                        payload = read_raw_telemetry(
                            user=reader, snapshot=snapshot, purpose=PAYLOAD_PURPOSE, channel="bundle"
                        ).payload
                    except CrossBorderRefused:
                        # A reader abroad without an approval: withheld, refusal logged once per battery.
                        tiers[snapshot.battery_id] = WITHHELD
                    except DomainError:
                        payload = None  # refused or shredded: the refusal is logged, the payload withheld
            item = {
                "payload_hash": snapshot.payload_hash,
                "signature": {
                    "alg": snapshot.signature_alg,
                    "key_id": snapshot.device_key.key_id,
                    "value": snapshot.signature_value,
                },
                "captured_at": iso(snapshot.captured_at),
                "battery_code": snapshot.battery.code,
                "payload": payload,
            }
            yield ("" if first else ",\n") + _dumps(item)
            first = False


def _keys(key_ids: set[int]) -> Iterator[str]:
    keys = (
        DeviceKey.objects.filter(pk__in=key_ids)
        .select_related("organisation")
        .prefetch_related("revocations")
        .order_by("key_id")
    )
    for position, key in enumerate(keys):
        item = {
            "key_id": key.key_id,
            "algorithm": key.algorithm,
            "public_key_pem": key.public_key_pem,
            "organisation": key.organisation.name,
            "purpose": key.purpose,
            "valid_from": iso(key.valid_from),
            "valid_until": iso(key.valid_until),
            "revocations": [
                {"effective_at": iso(revocation.effective_at), "reason": revocation.reason}
                for revocation in key.revocations.all()
            ],
        }
        yield ("" if position == 0 else ",\n") + _dumps(item)


def licence_intervals(licences: list[Licence]) -> dict[int, list[dict[str, Any]]]:
    """Each licence's history as intervals of constant state and scope, from `Licence.with_state`.

    The state can only change at the licence's start and end, at an event's effective time or at a
    renewal's new end: asking `with_state` at each of those instants gives every interval exactly.
    """
    if not licences:
        return {}
    ids = [licence.pk for licence in licences]
    points: dict[int, set[datetime]] = {licence.pk: {licence.starts_at} for licence in licences}
    for licence in licences:
        if licence.ends_at:
            points[licence.pk].add(licence.ends_at)
    for licence_id, effective_at, new_ends_at in LicenceEvent.objects.filter(licence_id__in=ids).values_list(
        "licence_id", "effective_at", "new_ends_at"
    ):
        points[licence_id].add(effective_at)
        if new_ends_at:
            points[licence_id].add(new_ends_at)
    wanted: dict[datetime, list[int]] = {}
    for licence_id, instants in points.items():
        for instant in instants:
            wanted.setdefault(instant, []).append(licence_id)
    states: dict[tuple[int, datetime], tuple[str, list[str]]] = {}
    for instant, licence_ids in wanted.items():
        for licence_id, state, activities in (
            Licence.objects.filter(pk__in=licence_ids)
            .with_state(instant)
            .values_list("id", "state", "current_activities")
        ):
            states[(licence_id, instant)] = (state, sorted(activities or []))
    intervals: dict[int, list[dict[str, Any]]] = {}
    for licence_id, instants in points.items():
        ordered = sorted(instants)
        segments: list[dict[str, Any]] = []
        for index, start in enumerate(ordered):
            state, activities = states[(licence_id, start)]
            until = ordered[index + 1] if index + 1 < len(ordered) else None
            if segments and segments[-1]["state"] == state and segments[-1]["activities"] == activities:
                segments[-1]["until"] = until
                continue
            if segments:
                segments[-1]["until"] = start
            segments.append({"from": start, "until": until, "activities": activities, "state": state})
        intervals[licence_id] = [
            {
                "from": iso(segment["from"]),
                "until": iso(segment["until"]),
                "activities": segment["activities"],
                "state": segment["state"],
            }
            for segment in segments
            if segment["state"] != "pending"
        ]
    return intervals


def _licences(facility_ids: set[int]) -> Iterator[str]:
    licences = list(
        Licence.objects.filter(facility_id__in=facility_ids)
        .select_related("facility")
        .order_by("facility_id", "id")
    )
    intervals = licence_intervals(licences)
    for position, licence in enumerate(licences):
        item = {
            "id": licence.pk,
            "facility_id": licence.facility_id,
            "facility": licence.facility.name,
            "timezone": licence.facility.timezone,
            "kind": licence.kind,
            "number": licence.number,
            "issuing_authority": licence.issuing_authority,
            "intervals": intervals.get(licence.pk, []),
        }
        yield ("" if position == 0 else ",\n") + _dumps(item)


def iter_bundle(
    prepared: PreparedBundle, *, reader: Any = None, generated_at: datetime | None = None
) -> Iterator[str]:
    """The bundle as text chunks; `reader` (a user) decides, per battery, whether payloads are included.

    Payloads go only to authorities of the battery's jurisdiction, through `read_raw_telemetry`, so a
    reader outside the data's jurisdiction also needs a transfer approval (crossborder.gate, channel
    "bundle"); without one the battery's payloads are withheld and the refusal is logged once.
    Stream it outside transaction.atomic (the gate commits its log rows)."""
    signer = log_signer()
    scope = {**prepared.scope.describe(), "events": prepared.event_count}
    head = {
        "format": FORMAT,
        "generated_at": iso((generated_at or timezone.now()).replace(microsecond=0)),
        "scope": scope,
        "log": {"origin": signer.name, "vkey": signer.verifier.vkey},
        "checkpoint": _checkpoint_section(prepared.checkpoint),
    }
    opening = _dumps(head)
    yield opening[:-1] + ',\n"events": [\n'
    snapshot_hashes: set[str] = set()
    facility_ids: set[int] = set()
    yield from _events(prepared, snapshot_hashes, facility_ids)
    yield '\n],\n"snapshots": [\n'
    key_ids: set[int] = set()
    yield from _snapshots(snapshot_hashes, reader=reader, key_ids=key_ids, tiers={})
    yield '\n],\n"keys": [\n'
    yield from _keys(key_ids)
    yield '\n],\n"licences": [\n'
    yield from _licences(facility_ids)
    yield "\n]}\n"


def log_export(*, scope: BundleScope, user: Any, channel: str) -> BundleExport:
    """Record who exported what (every export is logged)."""
    organisation = getattr(user, "organisation", None) if user is not None else None
    tier = "command"
    if user is not None and scope.batteries:
        tier = access.tier_for(scope.batteries[0], user)
    return BundleExport.objects.create(
        requested_by=user if getattr(user, "pk", None) else None,
        organisation=organisation,
        channel=channel,
        scope=scope.describe(),
        tier=tier,
    )


def write_bundle(chunks: Iterable[str], out: Any) -> int:
    """Write chunks to a text file; returns the characters written."""
    written = 0
    for chunk in chunks:
        out.write(chunk)
        written += len(chunk)
    return written
