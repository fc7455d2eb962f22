"""Writes to the transparency log: enqueue, sequence, publish checkpoints, register and record witnesses."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Model, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organisation
from core.errors import Conflict, InvalidInput, NotFound, NotPermitted
from core.jobs import run_job
from core.models import JobRun
from custody.checkpoint import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    NoteError,
    parse_note,
    parse_signature_line,
    parse_vkey,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignature,
)
from custody.merkle import HASH_SIZE, ProofError, appended_subtrees, frontier, leaf_hash, root_after_append
from custody.merkle import consistency_proof as merkle_consistency_proof
from custody.merkle import verify_consistency as merkle_verify_consistency
from custody.transparency import tasks
from custody.transparency.errors import LogError
from custody.transparency.keys import log_signer
from custody.transparency.models import (
    Checkpoint,
    Cosignature,
    LogLeaf,
    LogNode,
    LogState,
    PendingLeaf,
    WitnessKey,
)
from custody.transparency.store import StoredTree

logger = logging.getLogger(__name__)

# One sequencing task is enough for any number of commits that happen before it starts; starting it
# a moment after the first commit lets a busy log sequence in batches (group commit) at little delay.
SEQUENCE_SCHEDULED_KEY = "custody:log:sequence-scheduled"
SEQUENCE_DELAY = timedelta(milliseconds=200)
PUBLISH_SCHEDULED_KEY = "custody:log:publish-scheduled"
SCHEDULE_MARK_TIMEOUT = 30
# Checkpoints follow growth within about this delay, but no more often, so a busy log signs a few per
# second rather than one per batch.
CHECKPOINT_MIN_INTERVAL = timedelta(seconds=1)
COSIGNATURE_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_BATCH = 2000


def _locked_state() -> LogState:
    """The log state row, locked until the end of the transaction: the one serialisation point."""
    state = LogState.objects.select_for_update().filter(pk=LogState.SINGLETON).first()
    if state is None:
        LogState.objects.get_or_create(pk=LogState.SINGLETON)
        state = LogState.objects.select_for_update().get(pk=LogState.SINGLETON)
    return state


def _schedule_sequencing() -> None:
    if cache.add(SEQUENCE_SCHEDULED_KEY, True, timeout=SCHEDULE_MARK_TIMEOUT):
        tasks.sequence_log.apply_async(countdown=SEQUENCE_DELAY.total_seconds())


def _schedule_publication() -> None:
    if cache.add(PUBLISH_SCHEDULED_KEY, True, timeout=SCHEDULE_MARK_TIMEOUT):
        tasks.sequence_log.apply_async(countdown=CHECKPOINT_MIN_INTERVAL.total_seconds())


def enqueue_leaf(*, event_hash: bytes) -> None:
    """Queue an event hash for the log inside the caller's transaction; it is sequenced after commit.

    Not wrapped in its own atomic block on purpose: it is one statement, and a refusal must leave the
    caller's transaction usable (a nested atomic without a savepoint would mark it for rollback).
    """
    sql, params = enqueue_statement(event_hash=event_hash)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = cursor.fetchone()
    enqueued(inserted is not None)


_ENQUEUE_SQL: dict[str, str] = {}


def enqueue_statement(*, event_hash: bytes) -> tuple[str, list[Any]]:
    """The one statement that queues `event_hash` and returns the queued row's id, or no row when the
    hash is already in the log or queued; a writer may run it as part of a larger statement, then
    pass whether it returned a row to `enqueued`."""
    if not isinstance(event_hash, bytes | bytearray) or len(event_hash) != HASH_SIZE:
        raise InvalidInput(
            _("An event hash must be %(size)d bytes.") % {"size": HASH_SIZE}, code="LOG_HASH_INVALID"
        )
    vendor = connection.vendor
    sql = _ENQUEUE_SQL.get(vendor)
    if sql is None:
        # One statement that neither duplicates a leaf nor a queued hash, and that leaves the caller's
        # transaction usable when it refuses (no savepoint needed): every writer pays for it per event.
        quote = connection.ops.quote_name
        column = quote("event_hash")
        sql = _ENQUEUE_SQL[vendor] = (
            f"INSERT INTO {quote(PendingLeaf._meta.db_table)} ({column}, {quote('enqueued_at')}) "
            f"SELECT %s, %s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {quote(LogLeaf._meta.db_table)} WHERE {column} = %s) "
            f"ON CONFLICT ({column}) DO NOTHING RETURNING {quote('id')}"
        )
    event_hash = bytes(event_hash)
    enqueued_at = connection.ops.adapt_datetimefield_value(timezone.now())
    return sql, [event_hash, enqueued_at, event_hash]


def enqueued(inserted: bool) -> None:
    """After `enqueue_statement` ran: refuse a duplicate, or have the hash sequenced after commit."""
    if not inserted:
        raise Conflict(
            _("This event hash is already in the log or queued for it."), code="LOG_HASH_DUPLICATE"
        )
    # Robust: the event is committed either way, and the periodic job sequences what a lost task missed.
    transaction.on_commit(_schedule_sequencing, robust=True)


def sequence_pending(*, max_batch: int = DEFAULT_BATCH, max_batches: int | None = None) -> int:
    """Give committed pending hashes contiguous leaf indices in commit order; returns how many."""
    # Clear the mark first: a commit from now on schedules a new run even while this one works.
    cache.delete(SEQUENCE_SCHEDULED_KEY)
    appended = batches = 0
    while max_batches is None or batches < max_batches:
        count, more = _sequence_batch(max_batch)
        appended += count
        batches += 1
        if not more:
            break
    return appended


def _insert_rows(model: type[Model], columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    # COPY on PostgreSQL and executemany elsewhere rather than bulk_create, which spent most of the
    # sequencer's time building SQL for large batches.
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})", rows
            )


@transaction.atomic
def _sequence_batch(max_batch: int) -> tuple[int, bool]:
    state = _locked_state()
    # Read after taking the lock: on PostgreSQL this statement sees every commit made before it,
    # and rows of transactions still open stay invisible until a later run.
    pending = list(PendingLeaf.objects.order_by("id").values_list("id", "event_hash")[:max_batch])
    if not pending:
        return 0, False
    ids = [pending_id for pending_id, _hash in pending]
    in_log = Exists(LogLeaf.objects.filter(event_hash=OuterRef("event_hash")))
    batch = PendingLeaf.objects.filter(id__gte=ids[0], id__lte=ids[-1])  # an index range, not the queue
    duplicates = set(batch.filter(in_log).values_list("id", flat=True))
    if duplicates:
        logger.warning("Dropped %d queued hashes that were already in the log.", len(duplicates))
    fresh = [bytes(event_hash) for pending_id, event_hash in pending if pending_id not in duplicates]

    start = int(state.tree_size)
    leaf_hashes = [leaf_hash(event_hash) for event_hash in fresh]
    edge = StoredTree().subtree_hashes(frontier(start))
    created = appended_subtrees(start, leaf_hashes, edge)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    _insert_rows(
        LogLeaf,
        ["index", "event_hash", "sequenced_at"],
        [(start + offset, event_hash, now) for offset, event_hash in enumerate(fresh)],
    )
    _insert_rows(LogNode, ["level", "index", "hash"], created)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # one array parameter instead of thousands
            table = connection.ops.quote_name(PendingLeaf._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s::bigint[])", [ids])
    else:
        PendingLeaf.objects.filter(id__in=ids).delete()
    state.tree_size = start + len(fresh)
    state.root_hash = root_after_append(start, leaf_hashes, edge, created)
    state.save(update_fields=["tree_size", "root_hash", "updated_at"])
    return len(fresh), len(pending) == max_batch


@transaction.atomic
def publish_checkpoint(*, force: bool = False) -> Checkpoint | None:
    """Sign the current tree head as a checkpoint if the tree grew since the last one (or if forced)."""
    state = _locked_state()  # checkpoints are signed in tree order, never two for one size at once
    latest = Checkpoint.objects.order_by("-id").first()
    if not force and latest is not None and latest.tree_size == state.tree_size:
        return None
    signer = log_signer()
    root = bytes(state.root_hash)
    now = timezone.now().replace(microsecond=0)  # the signed timestamp line has second precision
    note = sign_checkpoint(
        signer,
        origin=signer.name,
        tree_size=int(state.tree_size),
        root_hash=root,
        timestamp=int(now.timestamp()),
    )
    return Checkpoint.objects.create(
        origin=signer.name,
        tree_size=state.tree_size,
        root_hash=root,
        timestamp=now,
        note=note,
        signature=parse_note(note).signatures[0].signature,
    )


def sequence_log() -> int:
    """Sequence everything pending, then publish a checkpoint once one is due; returns leaves added."""
    appended = sequence_pending()
    latest = Checkpoint.objects.order_by("-id").first()
    if latest is not None and timezone.now() - latest.timestamp < CHECKPOINT_MIN_INTERVAL:
        size = LogState.objects.filter(pk=LogState.SINGLETON).values_list("tree_size", flat=True).first()
        if latest.tree_size != size:
            # Too soon for another signature: come back when it is due, so the last leaves of a
            # burst are covered within seconds and not at the next periodic run.
            transaction.on_commit(_schedule_publication, robust=True)
        return appended
    cache.delete(PUBLISH_SCHEDULED_KEY)
    publish_checkpoint()
    return appended


def run_checkpoint_publication(*, force: bool = False) -> JobRun:
    """The periodic job: sequence what is pending and publish a checkpoint, recorded as a JobRun."""

    def work() -> dict[str, Any]:
        appended = sequence_pending()
        checkpoint = publish_checkpoint(force=force)
        size = (
            checkpoint.tree_size
            if checkpoint
            else LogState.objects.values_list("tree_size", flat=True).first()
        )
        return {"sequenced": appended, "published": int(checkpoint is not None), "tree_size": size or 0}

    return run_job("custody.publish_checkpoint", work)


def _witness_organisation(user: Any, *, admin_only: bool) -> Organisation:
    organisation = getattr(user, "organisation", None)
    roles = {Membership.Role.ADMIN} if admin_only else {Membership.Role.ADMIN, Membership.Role.OPERATOR}
    if organisation is None or organisation.kind != Organisation.Kind.AUDITOR or user.role not in roles:
        if admin_only:
            message = _("Only an administrator of an auditor organisation may register witness keys.")
        else:
            message = _(
                "Only administrators and operators of an auditor organisation may cosign checkpoints."
            )
        raise NotPermitted(message, code="WITNESS_NOT_PERMITTED")
    return organisation


@transaction.atomic
def register_witness_key(*, user: Any, vkey: str) -> WitnessKey:
    """Register an auditor organisation's cosignature/v1 key, given as a vkey string."""
    organisation = _witness_organisation(user, admin_only=True)
    try:
        key = parse_vkey(vkey)
    except NoteError as exc:
        raise InvalidInput(
            _("The witness key is not a valid verifier key: %(reason)s") % {"reason": exc},
            code="WITNESS_KEY_INVALID",
            field="vkey",
        ) from exc
    if key.signature_type != SIGNATURE_TYPE_COSIGNATURE_V1:
        raise InvalidInput(
            _("A witness key must be a cosignature/v1 Ed25519 key (signature type 0x04)."),
            code="WITNESS_KEY_INVALID",
            field="vkey",
        )
    duplicate = WitnessKey.objects.filter(public_key=key.public_key).exists() or (
        WitnessKey.objects.filter(name=key.name, key_id=key.key_id.hex()).exists()
    )
    if duplicate:
        raise Conflict(_("This witness key is already registered."), code="WITNESS_KEY_EXISTS", field="vkey")
    try:
        with transaction.atomic():
            return WitnessKey.objects.create(
                organisation=organisation,
                name=key.name,
                key_id=key.key_id.hex(),
                public_key=key.public_key,
                registered_by=user,
            )
    except IntegrityError as exc:  # registered concurrently
        raise Conflict(
            _("This witness key is already registered."), code="WITNESS_KEY_EXISTS", field="vkey"
        ) from exc


@transaction.atomic
def record_cosignature(
    *,
    user: Any,
    checkpoint_note: str,
    cosignature: str,
    old_size: int,
    consistency_path: Sequence[bytes] | None = None,
) -> Cosignature:
    """Store a witness's cosignature over one of our checkpoints, after checking it and its consistency.

    `old_size` is the size of the last checkpoint this witness key cosigned (0 for its first); the
    witness checked `consistency_path` from that checkpoint to this one. The log verifies the
    cosignature and that the path (or, if none is given, its own proof) is consistent.
    """
    organisation = _witness_organisation(user, admin_only=False)
    signer = log_signer()
    try:
        signed = verify_checkpoint(checkpoint_note, signer.verifier)
    except NoteError as exc:
        raise LogError(
            _("The checkpoint is not one signed by this log: %(reason)s") % {"reason": exc},
            code="CHECKPOINT_INVALID",
            field="checkpoint",
        ) from exc
    checkpoint = (
        Checkpoint.objects.filter(tree_size=signed.tree_size, root_hash=signed.root_hash)
        .order_by("-id")
        .first()
    )
    if checkpoint is None:
        raise NotFound(
            _("This log never published that checkpoint."), code="CHECKPOINT_UNKNOWN", field="checkpoint"
        )

    try:
        line = parse_signature_line(cosignature.strip())
    except NoteError as exc:
        raise InvalidInput(
            _("The cosignature is not a note signature line: %(reason)s") % {"reason": exc},
            code="COSIGNATURE_MALFORMED",
            field="cosignature",
        ) from exc
    # Locking the key serialises cosignatures of one witness, so "the last one it cosigned" is stable.
    witness_key = (
        WitnessKey.objects.select_for_update()
        .filter(organisation=organisation, name=line.name, key_id=line.key_id.hex())
        .first()
    )
    if witness_key is None:
        raise NotFound(
            _("No witness key of your organisation has the name %(name)s and this key ID.")
            % {"name": line.name},
            code="WITNESS_KEY_UNKNOWN",
            field="cosignature",
        )
    try:
        verified = verify_cosignature(line, body=checkpoint.body, key=witness_key.verifier)
    except NoteError as exc:
        raise LogError(
            _("The cosignature does not verify: %(reason)s") % {"reason": exc},
            code="COSIGNATURE_INVALID",
            field="cosignature",
        ) from exc
    if verified.timestamp > (timezone.now() + COSIGNATURE_CLOCK_SKEW).timestamp():
        raise LogError(
            _("The cosignature is dated in the future."),
            code="COSIGNATURE_TIME_IN_FUTURE",
            field="cosignature",
        )
    if Cosignature.objects.filter(checkpoint=checkpoint, witness_key=witness_key).exists():
        raise Conflict(
            _("This witness key has already cosigned this checkpoint."),
            code="COSIGNATURE_EXISTS",
            field="cosignature",
        )

    last = (
        Cosignature.objects.filter(witness_key=witness_key)
        .select_related("checkpoint")
        .order_by("-checkpoint__tree_size", "-id")
        .first()
    )
    last_size = last.checkpoint.tree_size if last else 0
    if old_size != last_size:
        raise Conflict(
            _("The last checkpoint this witness key cosigned has size %(size)d, not %(old)d.")
            % {"size": last_size, "old": old_size},
            code="WITNESS_OLD_SIZE_MISMATCH",
            field="old_size",
        )
    if checkpoint.tree_size < last_size:
        raise Conflict(
            _("This witness key already cosigned a larger tree (size %(size)d).") % {"size": last_size},
            code="WITNESS_CHECKPOINT_OLDER",
            field="checkpoint",
        )
    if last is not None:
        _check_consistency(last.checkpoint, checkpoint, consistency_path)

    return Cosignature.objects.create(
        checkpoint=checkpoint,
        witness_key=witness_key,
        timestamp=verified.timestamp,
        signature=verified.signature,
        previous_size=old_size,
        submitted_by=user,
    )


def _check_consistency(old: Checkpoint, new: Checkpoint, consistency_path: Sequence[bytes] | None) -> None:
    if consistency_path is None:
        consistency_path = (
            merkle_consistency_proof(StoredTree(), old.tree_size, new.tree_size)
            if old.tree_size < new.tree_size
            else []
        )
    try:
        merkle_verify_consistency(
            first=old.tree_size,
            second=new.tree_size,
            first_root=bytes(old.root_hash),
            second_root=bytes(new.root_hash),
            proof=list(consistency_path),
        )
    except ProofError as exc:
        raise LogError(
            _("The checkpoint is not consistent with the last one this witness cosigned: %(reason)s")
            % {"reason": exc},
            code="LOG_INCONSISTENT",
            field="consistency_path",
        ) from exc
