"""Proofs served from the stored subtrees: RFC 9162 answers for any size, from O(log n) rows."""

from __future__ import annotations

import os

import pytest

from core.errors import NotFound
from custody.merkle import (
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from custody.transparency.errors import LogError
from custody.transparency.selectors import (
    consistency_proof_between,
    inclusion_proof_for,
    latest_checkpoint,
    log_verifier_key,
)
from custody.transparency.services import enqueue_leaf, publish_checkpoint, sequence_pending
from custody.transparency.store import StoredTree

pytestmark = pytest.mark.django_db


def _append(count: int, *, batch: int = 1000) -> list[bytes]:
    hashes = [os.urandom(32) for _ in range(count)]
    for event_hash in hashes:
        enqueue_leaf(event_hash=event_hash)
    sequence_pending(max_batch=batch)
    return hashes


@pytest.fixture
def log_of_45() -> tuple[list[bytes], MemoryTree]:
    hashes = _append(45, batch=7)  # odd batches, so subtrees complete across batch borders
    tree = MemoryTree()
    tree.append_leaf_hashes([leaf_hash(h) for h in hashes])
    publish_checkpoint()
    return hashes, tree


def test_stored_tree_answers_every_root_and_proof_like_the_reference_tree(log_of_45):
    _hashes, reference = log_of_45
    store = StoredTree()
    for size in range(1, 46):
        assert root_at(store, size) == root_at(reference, size)
        for index in range(size):
            assert inclusion_proof(store, index, size) == inclusion_proof(reference, index, size)
        for first in range(1, size):
            assert consistency_proof(store, first, size) == consistency_proof(reference, first, size)


def test_inclusion_proof_for_verifies_against_the_latest_checkpoint(log_of_45):
    hashes, _reference = log_of_45
    proof = inclusion_proof_for(event_hash=hashes[17])
    checkpoint = latest_checkpoint()
    assert (proof.leaf_index, proof.tree_size) == (17, 45)
    assert proof.root_hash == bytes(checkpoint.root_hash)
    verify_inclusion(
        leaf=proof.leaf_hash,
        index=proof.leaf_index,
        size=proof.tree_size,
        proof=proof.inclusion_path,
        root=proof.root_hash,
    )


def test_inclusion_proof_reads_logarithmically_many_rows_in_one_query(log_of_45, django_assert_num_queries):
    hashes, _reference = log_of_45
    with django_assert_num_queries(3):  # tree size, leaf lookup, the subtrees of path and root
        inclusion_proof_for(event_hash=hashes[30], tree_size=45)
    store = StoredTree()
    inclusion_proof(store, 30, 45)
    assert store.queries == 1
    assert store.rows_read <= 2 * 6


def test_inclusion_proof_for_an_older_size(log_of_45):
    hashes, reference = log_of_45
    proof = inclusion_proof_for(event_hash=hashes[3], tree_size=10)
    assert proof.inclusion_path == inclusion_proof(reference, 3, 10)
    assert proof.root_hash == root_at(reference, 10)


def test_inclusion_proof_for_refuses_a_size_beyond_the_tree(log_of_45):
    hashes, _reference = log_of_45
    with pytest.raises(LogError) as error:
        inclusion_proof_for(event_hash=hashes[0], tree_size=46)
    assert (error.value.code, error.value.field) == ("LOG_SIZE_BEYOND_TREE", "size")


def test_inclusion_proof_for_refuses_a_leaf_after_the_size(log_of_45):
    hashes, _reference = log_of_45
    with pytest.raises(LogError) as error:
        inclusion_proof_for(event_hash=hashes[20], tree_size=20)
    assert error.value.code == "LOG_LEAF_AFTER_SIZE"


def test_inclusion_proof_for_an_unknown_or_pending_hash_is_not_found(log_of_45):
    with pytest.raises(NotFound) as unknown:
        inclusion_proof_for(event_hash=os.urandom(32))
    assert unknown.value.code == "LOG_HASH_NOT_FOUND"
    pending = os.urandom(32)
    enqueue_leaf(event_hash=pending)
    with pytest.raises(NotFound) as queued:
        inclusion_proof_for(event_hash=pending)
    assert queued.value.code == "LOG_HASH_PENDING"


def test_inclusion_proof_for_without_a_checkpoint_is_not_found():
    [event_hash] = _append(1)
    with pytest.raises(NotFound) as error:
        inclusion_proof_for(event_hash=event_hash)
    assert error.value.code == "LOG_NO_CHECKPOINT"
    assert inclusion_proof_for(event_hash=event_hash, tree_size=1).inclusion_path == []


def test_consistency_proof_between_verifies(log_of_45):
    proof = consistency_proof_between(first=13, second=45)
    verify_consistency(
        first=13,
        second=45,
        first_root=proof.first_root,
        second_root=proof.second_root,
        proof=proof.consistency_path,
    )
    same = consistency_proof_between(first=45, second=45)
    assert same.consistency_path == []
    assert same.first_root == same.second_root


def test_consistency_proof_between_refuses_a_size_beyond_the_tree(log_of_45):
    with pytest.raises(LogError) as error:
        consistency_proof_between(first=3, second=46)
    assert (error.value.code, error.value.field) == ("LOG_SIZE_BEYOND_TREE", "second")


def test_log_verifier_key_verifies_published_checkpoints(log_of_45):
    key = log_verifier_key()
    assert key.vkey.startswith(f"{key.name}+")
    assert latest_checkpoint().note.endswith("\n")
