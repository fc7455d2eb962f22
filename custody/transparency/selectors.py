"""Reads of the transparency log: the latest checkpoint, inclusion and consistency proofs, the log key."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFound
from custody.checkpoint import VerifierKey
from custody.merkle import consistency_ranges, inclusion_ranges, leaf_hash, range_hashes
from custody.transparency.errors import LogError
from custody.transparency.keys import log_signer
from custody.transparency.models import Checkpoint, Cosignature, LogLeaf, LogState, PendingLeaf
from custody.transparency.store import StoredTree


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 inclusion proof of one event hash in the tree of `tree_size` leaves."""

    event_hash: bytes
    leaf_hash: bytes
    leaf_index: int
    tree_size: int
    root_hash: bytes
    inclusion_path: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 consistency proof between the trees of `first` and `second` leaves."""

    first: int
    second: int
    first_root: bytes
    second_root: bytes
    consistency_path: list[bytes]


def log_tree_size() -> int:
    """The number of leaves sequenced so far."""
    size = LogState.objects.filter(pk=LogState.SINGLETON).values_list("tree_size", flat=True).first()
    return int(size or 0)


def latest_checkpoint() -> Checkpoint:
    """The most recently published checkpoint, with its cosignatures and their witness keys."""
    checkpoint = Checkpoint.objects.order_by("-id").first()
    if checkpoint is None:
        raise NotFound(_("No checkpoint has been published yet."), code="LOG_NO_CHECKPOINT")
    return checkpoint


def checkpoint_cosignatures(checkpoint: Checkpoint) -> QuerySet[Cosignature]:
    """A checkpoint's witness cosignatures in the order they arrived."""
    return checkpoint.cosignatures.select_related("witness_key__organisation").order_by("id")


def _check_size(tree_size: int, field: str) -> None:
    current = log_tree_size()
    if tree_size > current:
        raise LogError(
            _("The log has %(current)d leaves; size %(size)d is beyond the tree.")
            % {"current": current, "size": tree_size},
            code="LOG_SIZE_BEYOND_TREE",
            field=field,
        )


def inclusion_proof_for(*, event_hash: bytes, tree_size: int | None = None) -> InclusionProof:
    """The inclusion proof of an event hash, by default in the tree of the latest checkpoint."""
    if tree_size is None:
        tree_size = latest_checkpoint().tree_size
    else:
        _check_size(tree_size, "size")
    leaf = LogLeaf.objects.filter(event_hash=event_hash).values_list("index", flat=True).first()
    if leaf is None:
        if PendingLeaf.objects.filter(event_hash=event_hash).exists():
            raise NotFound(
                _("This event hash is queued but not yet in the log; try again in a few seconds."),
                code="LOG_HASH_PENDING",
                field="hash",
            )
        raise NotFound(_("This event hash is not in the log."), code="LOG_HASH_NOT_FOUND", field="hash")
    if leaf >= tree_size:
        raise LogError(
            _("The event is leaf %(index)d, which a tree of %(size)d leaves does not contain yet.")
            % {"index": leaf, "size": tree_size},
            code="LOG_LEAF_AFTER_SIZE",
            field="size",
        )
    # The path and the root in one read of the store.
    *path, root = range_hashes(StoredTree(), [*inclusion_ranges(leaf, tree_size), (0, tree_size)])
    return InclusionProof(
        event_hash=event_hash,
        leaf_hash=leaf_hash(event_hash),
        leaf_index=leaf,
        tree_size=tree_size,
        root_hash=root,
        inclusion_path=path,
    )


def consistency_proof_between(*, first: int, second: int) -> ConsistencyProof:
    """The consistency proof from the tree of `first` leaves to that of `second` (1 <= first <= second)."""
    _check_size(second, "second")
    ranges = consistency_ranges(first, second) if first < second else []
    *path, first_root, second_root = range_hashes(StoredTree(), [*ranges, (0, first), (0, second)])
    return ConsistencyProof(
        first=first, second=second, first_root=first_root, second_root=second_root, consistency_path=path
    )


def log_verifier_key() -> VerifierKey:
    """The public key that verifies this log's checkpoints."""
    return log_signer().verifier
