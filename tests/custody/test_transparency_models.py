"""The log's tables: append-only in the ORM and by database triggers, with hash-size and uniqueness rules."""

from __future__ import annotations

import os

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from core.errors import AppendOnlyViolation
from custody.models import Checkpoint, LogLeaf, LogNode
from custody.transparency.services import enqueue_leaf, publish_checkpoint, sequence_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_of_four() -> Checkpoint:
    for _ in range(4):
        enqueue_leaf(event_hash=os.urandom(32))
    sequence_pending()
    return publish_checkpoint()


def _raw(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


@pytest.mark.parametrize(
    "sql",
    [
        'UPDATE custody_logleaf SET "index" = "index" + 100',
        "DELETE FROM custody_logleaf",
        "UPDATE custody_lognode SET hash = hash || hash",
        'UPDATE custody_lognode SET "index" = "index" + 1',
        "DELETE FROM custody_lognode",
        "UPDATE custody_checkpoint SET tree_size = 1000",
        "DELETE FROM custody_checkpoint",
    ],
)
def test_log_tables_refuse_raw_updates_and_deletes(log_of_four, sql):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw(sql)


def test_log_leaf_refuses_updates_and_deletes_in_the_orm(log_of_four):
    leaf = LogLeaf.objects.get(index=0)
    with pytest.raises(AppendOnlyViolation):
        leaf.save()
    with pytest.raises(AppendOnlyViolation):
        leaf.delete()
    with pytest.raises(AppendOnlyViolation):
        LogNode.objects.all().delete()
    with pytest.raises(AppendOnlyViolation):
        Checkpoint.objects.update(tree_size=0)


def test_log_leaf_refuses_a_hash_that_is_not_32_bytes():
    with pytest.raises(IntegrityError), transaction.atomic():
        LogLeaf.objects.create(index=0, event_hash=b"short")


def test_log_leaf_refuses_the_same_event_hash_twice():
    event_hash = os.urandom(32)
    LogLeaf.objects.create(index=0, event_hash=event_hash)
    with pytest.raises(IntegrityError), transaction.atomic():
        LogLeaf.objects.create(index=1, event_hash=event_hash)


def test_log_node_refuses_level_zero_which_lives_in_the_leaf_table():
    with pytest.raises(IntegrityError), transaction.atomic():
        LogNode.objects.create(level=0, index=0, hash=os.urandom(32))


def test_checkpoint_body_is_the_signed_text(log_of_four):
    assert log_of_four.body == log_of_four.note.split("\n\n")[0] + "\n"
    _origin, size, _root, timestamp, _end = log_of_four.body.split("\n")
    assert (size, timestamp) == ("4", f"timestamp {int(log_of_four.timestamp.timestamp())}")
