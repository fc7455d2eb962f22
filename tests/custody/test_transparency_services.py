"""Sequencing, checkpoint publication and witness cosigning of the transparency log."""

from __future__ import annotations

import os
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction

from accounts.models import Membership, Organisation
from core.errors import Conflict, InvalidInput, NotFound, NotPermitted
from custody.checkpoint import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    VerifierKey,
    parse_note,
    sign_cosignature,
    verify_checkpoint,
)
from custody.merkle import EMPTY_ROOT, leaf_hash, root_from_leaf_hashes
from custody.models import Checkpoint, Cosignature, LogLeaf, LogNode, LogState, PendingLeaf
from custody.transparency import services
from custody.transparency.errors import LogError
from custody.transparency.keys import log_signer
from custody.transparency.services import (
    enqueue_leaf,
    publish_checkpoint,
    record_cosignature,
    register_witness_key,
    sequence_pending,
)
from custody.transparency.store import StoredTree
from tests.factories import OrganisationFactory, member_of

pytestmark = pytest.mark.django_db


def _append(count: int) -> list[bytes]:
    hashes = [os.urandom(32) for _ in range(count)]
    for event_hash in hashes:
        enqueue_leaf(event_hash=event_hash)
    sequence_pending()
    return hashes


def _stored_levels() -> dict[tuple[int, int], bytes]:
    return {
        (level, index): bytes(digest)
        for level, index, digest in LogNode.objects.values_list("level", "index", "hash")
    }


class Witness:
    """An auditor's witness: a cosignature/v1 key and the checkpoints it cosigns."""

    def __init__(self, name: str = "audit.test/witness") -> None:
        self.private_key = Ed25519PrivateKey.generate()
        self.key = VerifierKey(
            name=name,
            signature_type=SIGNATURE_TYPE_COSIGNATURE_V1,
            public_key=self.private_key.public_key().public_bytes_raw(),
        )

    def cosign(self, checkpoint: Checkpoint, timestamp: int | None = None) -> str:
        return sign_cosignature(
            name=self.key.name,
            private_key=self.private_key,
            body=parse_note(checkpoint.note).text,
            timestamp=int(time.time()) if timestamp is None else timestamp,
        )


@pytest.fixture
def witness(auditor_admin) -> Witness:
    witness = Witness()
    register_witness_key(user=auditor_admin, vkey=witness.key.vkey)
    return witness


# Sequencing
def test_sequence_pending_gives_contiguous_indices_in_queue_order():
    hashes = _append(5)
    assert list(LogLeaf.objects.order_by("index").values_list("index", flat=True)) == [0, 1, 2, 3, 4]
    assert [
        bytes(h) for h in LogLeaf.objects.order_by("index").values_list("event_hash", flat=True)
    ] == hashes
    assert PendingLeaf.objects.count() == 0
    assert LogState.objects.get().tree_size == 5


def test_sequence_pending_stores_every_complete_subtree_and_the_root():
    hashes = _append(3)
    hashes += _append(4)  # a second batch completes subtrees that straddle the first
    leaves = [leaf_hash(h) for h in hashes]
    expected = {
        (level, index): root_from_leaf_hashes(leaves[index << level : (index + 1) << level])
        for level in range(1, 3)
        for index in range(len(leaves) >> level)
    }
    assert _stored_levels() == expected
    assert bytes(LogState.objects.get().root_hash) == root_from_leaf_hashes(leaves)


def test_sequence_pending_works_in_batches_of_the_given_size():
    for _ in range(7):
        enqueue_leaf(event_hash=os.urandom(32))
    assert sequence_pending(max_batch=3, max_batches=1) == 3
    assert PendingLeaf.objects.count() == 4
    assert sequence_pending(max_batch=3) == 4
    assert LogState.objects.get().tree_size == 7


def test_sequence_pending_with_nothing_queued_changes_nothing():
    assert sequence_pending() == 0
    assert LogLeaf.objects.count() == 0


def test_enqueue_leaf_refuses_a_hash_already_in_the_log():
    [event_hash] = _append(1)
    with pytest.raises(Conflict) as error:
        enqueue_leaf(event_hash=event_hash)
    assert error.value.code == "LOG_HASH_DUPLICATE"


def test_enqueue_leaf_refuses_a_hash_already_queued_and_keeps_the_callers_transaction_usable():
    event_hash = os.urandom(32)
    with transaction.atomic():
        enqueue_leaf(event_hash=event_hash)
        with pytest.raises(Conflict):
            enqueue_leaf(event_hash=event_hash)
        enqueue_leaf(event_hash=os.urandom(32))
    assert PendingLeaf.objects.count() == 2


def test_enqueue_leaf_refuses_a_hash_that_is_not_32_bytes():
    with pytest.raises(InvalidInput) as error:
        enqueue_leaf(event_hash=b"\x00" * 31)
    assert error.value.code == "LOG_HASH_INVALID"
    assert PendingLeaf.objects.count() == 0


def test_sequence_pending_drops_a_queued_hash_that_reached_the_log_meanwhile():
    event_hash = os.urandom(32)
    LogLeaf.objects.create(index=0, event_hash=event_hash)
    LogState.objects.create(tree_size=1, root_hash=leaf_hash(event_hash))
    PendingLeaf.objects.create(event_hash=event_hash)
    assert sequence_pending() == 0
    assert PendingLeaf.objects.count() == 0
    assert LogLeaf.objects.count() == 1


def test_enqueue_leaf_is_undone_with_the_callers_transaction():
    def write_then_fail() -> None:
        with transaction.atomic():
            enqueue_leaf(event_hash=os.urandom(32))
            raise RuntimeError("the event could not be written")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert PendingLeaf.objects.count() == 0


# Checkpoints
def test_publish_checkpoint_signs_the_current_tree_head(settings):
    hashes = _append(6)
    checkpoint = publish_checkpoint()
    assert checkpoint.tree_size == 6
    assert bytes(checkpoint.root_hash) == root_from_leaf_hashes([leaf_hash(h) for h in hashes])
    signed = verify_checkpoint(checkpoint.note, log_signer().verifier.vkey)
    assert (signed.origin, signed.tree_size, signed.root_hash) == (
        settings.LOG_ORIGIN,
        6,
        bytes(checkpoint.root_hash),
    )
    assert checkpoint.origin == settings.LOG_ORIGIN


def test_publish_checkpoint_does_nothing_unless_the_tree_grew_or_it_is_forced():
    _append(2)
    first = publish_checkpoint()
    assert publish_checkpoint() is None
    forced = publish_checkpoint(force=True)
    assert (forced.tree_size, bytes(forced.root_hash)) == (first.tree_size, bytes(first.root_hash))
    _append(1)
    assert publish_checkpoint().tree_size == 3


def test_publish_checkpoint_publishes_the_empty_tree_once():
    checkpoint = publish_checkpoint()
    assert (checkpoint.tree_size, bytes(checkpoint.root_hash)) == (0, EMPTY_ROOT)
    assert publish_checkpoint() is None


def test_publish_checkpoint_uses_the_configured_key_and_origin(settings):
    settings.LOG_ORIGIN = "log.other.test/custody"
    settings.LOG_SIGNING_KEY = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
    checkpoint = publish_checkpoint()
    assert checkpoint.note.startswith("log.other.test/custody\n0\n")
    verify_checkpoint(checkpoint.note, log_signer().verifier)


def test_sequence_log_publishes_a_checkpoint_when_one_is_due():
    for _ in range(3):
        enqueue_leaf(event_hash=os.urandom(32))
    assert services.sequence_log() == 3
    assert Checkpoint.objects.get().tree_size == 3


def test_sequence_log_postpones_a_checkpoint_that_is_not_yet_due(django_capture_on_commit_callbacks):
    _append(1)
    publish_checkpoint()
    enqueue_leaf(event_hash=os.urandom(32))
    with django_capture_on_commit_callbacks() as callbacks:
        services.sequence_log()
    assert Checkpoint.objects.count() == 1
    assert [callback.__name__ for callback in callbacks] == ["_schedule_publication"]


def test_enqueue_leaf_schedules_sequencing_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        enqueue_leaf(event_hash=os.urandom(32))
    assert [callback.__name__ for callback in callbacks] == ["_schedule_sequencing"]


def test_run_checkpoint_publication_records_a_job_run():
    for _ in range(2):
        enqueue_leaf(event_hash=os.urandom(32))
    run = services.run_checkpoint_publication()
    assert run.job == "custody.publish_checkpoint"
    assert run.status == run.Status.SUCCEEDED
    assert run.counts == {"sequenced": 2, "published": 1, "tree_size": 2}
    again = services.run_checkpoint_publication()
    assert again.counts == {"sequenced": 0, "published": 0, "tree_size": 2}


# Witnesses
def test_register_witness_key_stores_an_auditor_key(auditor_admin, auditor_org):
    witness = Witness()
    key = register_witness_key(user=auditor_admin, vkey=witness.key.vkey)
    assert (key.organisation, key.name, key.key_id) == (
        auditor_org,
        witness.key.name,
        witness.key.key_id.hex(),
    )
    assert key.verifier == witness.key


@pytest.mark.parametrize("persona", ["auditor", "recycler_admin", "regulator"])
def test_register_witness_key_refuses_anyone_but_an_auditor_admin(persona, request):
    with pytest.raises(NotPermitted) as error:
        register_witness_key(user=request.getfixturevalue(persona), vkey=Witness().key.vkey)
    assert error.value.code == "WITNESS_NOT_PERMITTED"


def test_register_witness_key_refuses_a_malformed_or_log_type_key(auditor_admin):
    with pytest.raises(InvalidInput) as error:
        register_witness_key(user=auditor_admin, vkey="not a key")
    assert (error.value.code, error.value.field) == ("WITNESS_KEY_INVALID", "vkey")
    with pytest.raises(InvalidInput, match="0x04"):
        register_witness_key(user=auditor_admin, vkey=log_signer().verifier.vkey)


def test_register_witness_key_refuses_a_key_registered_before(auditor_admin, witness):
    with pytest.raises(Conflict) as error:
        register_witness_key(user=auditor_admin, vkey=witness.key.vkey)
    assert error.value.code == "WITNESS_KEY_EXISTS"


def test_record_cosignature_stores_a_first_cosignature(auditor_admin, witness):
    _append(3)
    checkpoint = publish_checkpoint()
    cosignature = record_cosignature(
        user=auditor_admin,
        checkpoint_note=checkpoint.note,
        cosignature=witness.cosign(checkpoint, 1_700_000_000),
        old_size=0,
    )
    assert (cosignature.checkpoint, cosignature.previous_size, cosignature.timestamp) == (
        checkpoint,
        0,
        1_700_000_000,
    )
    assert cosignature.line == witness.cosign(checkpoint, 1_700_000_000)


def test_record_cosignature_checks_consistency_from_the_last_cosigned_checkpoint(auditor_admin, witness):
    _append(3)
    first = publish_checkpoint()
    record_cosignature(
        user=auditor_admin, checkpoint_note=first.note, cosignature=witness.cosign(first), old_size=0
    )
    _append(5)
    second = publish_checkpoint()
    proof = services.merkle_consistency_proof(StoredTree(), 3, 8)
    cosignature = record_cosignature(
        user=auditor_admin,
        checkpoint_note=second.note,
        cosignature=witness.cosign(second),
        old_size=3,
        consistency_path=proof,
    )
    assert cosignature.previous_size == 3
    _append(1)
    third = publish_checkpoint()
    record_cosignature(
        user=auditor_admin, checkpoint_note=third.note, cosignature=witness.cosign(third), old_size=8
    )
    assert Cosignature.objects.count() == 3


def test_record_cosignature_refuses_a_path_that_is_not_consistent(auditor_admin, witness):
    _append(3)
    first = publish_checkpoint()
    record_cosignature(
        user=auditor_admin, checkpoint_note=first.note, cosignature=witness.cosign(first), old_size=0
    )
    _append(2)
    second = publish_checkpoint()
    with pytest.raises(LogError) as error:
        record_cosignature(
            user=auditor_admin,
            checkpoint_note=second.note,
            cosignature=witness.cosign(second),
            old_size=3,
            consistency_path=[os.urandom(32), os.urandom(32)],
        )
    assert (error.value.code, error.value.field) == ("LOG_INCONSISTENT", "consistency_path")
    assert Cosignature.objects.count() == 1


def test_record_cosignature_refuses_a_wrong_old_size(auditor_admin, witness):
    _append(2)
    checkpoint = publish_checkpoint()
    with pytest.raises(Conflict) as error:
        record_cosignature(
            user=auditor_admin,
            checkpoint_note=checkpoint.note,
            cosignature=witness.cosign(checkpoint),
            old_size=1,
        )
    assert (error.value.code, error.value.field) == ("WITNESS_OLD_SIZE_MISMATCH", "old_size")
    assert "size 0" in error.value.message


def test_record_cosignature_refuses_an_older_checkpoint_than_the_last_cosigned(auditor_admin, witness):
    _append(2)
    older = publish_checkpoint()
    _append(2)
    newer = publish_checkpoint()
    record_cosignature(
        user=auditor_admin, checkpoint_note=newer.note, cosignature=witness.cosign(newer), old_size=0
    )
    with pytest.raises(Conflict) as error:
        record_cosignature(
            user=auditor_admin, checkpoint_note=older.note, cosignature=witness.cosign(older), old_size=4
        )
    assert error.value.code == "WITNESS_CHECKPOINT_OLDER"


def test_record_cosignature_refuses_a_signature_that_does_not_verify(auditor_admin, witness):
    _append(2)
    checkpoint = publish_checkpoint()
    _append(1)
    other = publish_checkpoint()
    with pytest.raises(LogError) as error:
        record_cosignature(
            user=auditor_admin, checkpoint_note=checkpoint.note, cosignature=witness.cosign(other), old_size=0
        )
    assert (error.value.code, error.value.field) == ("COSIGNATURE_INVALID", "cosignature")


def test_record_cosignature_refuses_a_checkpoint_the_log_did_not_sign(auditor_admin, witness):
    _append(2)
    checkpoint = publish_checkpoint()
    forged = checkpoint.note.replace("\n2\n", "\n3\n")
    with pytest.raises(LogError) as error:
        record_cosignature(
            user=auditor_admin, checkpoint_note=forged, cosignature=witness.cosign(checkpoint), old_size=0
        )
    assert (error.value.code, error.value.field) == ("CHECKPOINT_INVALID", "checkpoint")


def test_record_cosignature_refuses_an_unregistered_key_and_a_repeat(auditor_admin, witness):
    _append(1)
    checkpoint = publish_checkpoint()
    with pytest.raises(NotFound) as error:
        record_cosignature(
            user=auditor_admin,
            checkpoint_note=checkpoint.note,
            cosignature=Witness().cosign(checkpoint),
            old_size=0,
        )
    assert error.value.code == "WITNESS_KEY_UNKNOWN"
    record_cosignature(
        user=auditor_admin,
        checkpoint_note=checkpoint.note,
        cosignature=witness.cosign(checkpoint),
        old_size=0,
    )
    with pytest.raises(Conflict) as repeat:
        record_cosignature(
            user=auditor_admin,
            checkpoint_note=checkpoint.note,
            cosignature=witness.cosign(checkpoint),
            old_size=0,
        )
    assert repeat.value.code == "COSIGNATURE_EXISTS"


def test_record_cosignature_refuses_a_timestamp_in_the_future(auditor_admin, witness):
    checkpoint = publish_checkpoint()
    future = witness.cosign(checkpoint, int(time.time()) + 3600)
    with pytest.raises(LogError) as error:
        record_cosignature(
            user=auditor_admin, checkpoint_note=checkpoint.note, cosignature=future, old_size=0
        )
    assert error.value.code == "COSIGNATURE_TIME_IN_FUTURE"


def test_record_cosignature_refuses_another_auditors_key(witness):
    other_admin = member_of(OrganisationFactory(auditor=True, name="Other Audit"), Membership.Role.ADMIN)
    checkpoint = publish_checkpoint()
    with pytest.raises(NotFound):
        record_cosignature(
            user=other_admin,
            checkpoint_note=checkpoint.note,
            cosignature=witness.cosign(checkpoint),
            old_size=0,
        )


def test_record_cosignature_refuses_viewers_and_non_auditors(auditor, recycler_admin, witness):
    checkpoint = publish_checkpoint()
    for user in (auditor, recycler_admin):
        with pytest.raises(NotPermitted):
            record_cosignature(
                user=user, checkpoint_note=checkpoint.note, cosignature=witness.cosign(checkpoint), old_size=0
            )
    assert Organisation.objects.get(pk=auditor.organisation.pk).kind == Organisation.Kind.AUDITOR


# Concurrency (PostgreSQL: real row locks and parallel connections)
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sequencers_leave_no_gaps_or_duplicates(postgres):
    writers, per_writer = 4, 60
    written: list[list[bytes]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(slot: int) -> None:
        try:
            start.wait()
            for round_number in range(per_writer):
                with transaction.atomic():
                    for _ in range(1 + round_number % 3):  # transactions of one to three events
                        event_hash = os.urandom(32)
                        enqueue_leaf(event_hash=event_hash)
                        written[slot].append(event_hash)
                if round_number % 7 == slot % 7:
                    sequence_pending(max_batch=17)  # sequencers race each other and the writers
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(slot,)) for slot in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequence_pending()

    expected = [event_hash for hashes in written for event_hash in hashes]
    leaves = list(LogLeaf.objects.order_by("index").values_list("index", "event_hash"))
    assert [index for index, _hash in leaves] == list(range(len(expected)))
    assert sorted(bytes(h) for _index, h in leaves) == sorted(expected)
    assert len({bytes(h) for _index, h in leaves}) == len(expected)
    assert PendingLeaf.objects.count() == 0
    state = LogState.objects.get()
    assert state.tree_size == len(expected)
    assert bytes(state.root_hash) == root_from_leaf_hashes([leaf_hash(bytes(h)) for _index, h in leaves])
    # Every transaction's events stay in their commit order within the writer.
    positions = {bytes(h): index for index, h in leaves}
    for hashes in written:
        assert [positions[h] for h in hashes] == sorted(positions[h] for h in hashes)
