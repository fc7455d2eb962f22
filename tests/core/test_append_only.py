"""The append-only triggers refuse UPDATE and DELETE from raw SQL on PostgreSQL and SQLite."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import DatabaseError, connection, transaction

from core.db import AppendOnlyTrigger, purge_for_tests

pytestmark = pytest.mark.django_db

TABLE = "core_test_append_only"


@pytest.fixture
def guarded_table():
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, note varchar(50), shred varchar(50))")
        cursor.execute(f"INSERT INTO {TABLE} (id, note, shred) VALUES (1, 'first', 'secret')")
    # forward_sql only needs the connection; a schema editor cannot open inside SQLite's test transaction.
    editor = SimpleNamespace(connection=connection)
    with connection.cursor() as cursor:
        for statement in AppendOnlyTrigger(TABLE, allow_update_of=("shred",)).forward_sql(editor):
            cursor.execute(statement)
    return TABLE


def _refused(sql: str) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as exc:
        return "append-only" in str(exc)
    return False


def test_trigger_refuses_raw_update_of_an_immutable_column(guarded_table):
    assert _refused(f"UPDATE {guarded_table} SET note = 'changed' WHERE id = 1")


def test_trigger_refuses_raw_delete(guarded_table):
    assert _refused(f"DELETE FROM {guarded_table} WHERE id = 1")


def test_trigger_allows_inserts_and_updates_of_named_columns(guarded_table):
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {guarded_table} (id, note) VALUES (2, 'second')")
        cursor.execute(f"UPDATE {guarded_table} SET shred = NULL WHERE id = 1")
        cursor.execute(f"SELECT note, shred FROM {guarded_table} ORDER BY id")
        assert cursor.fetchall() == [("first", None), ("second", None)]


def test_trigger_lets_only_the_test_reset_purge(guarded_table):
    with purge_for_tests(connection), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {guarded_table}")
    assert _refused(f"INSERT INTO {guarded_table} (id, note) VALUES (3, 'x')") is False
    assert _refused(f"DELETE FROM {guarded_table}")


def test_trigger_refuses_truncate_on_postgresql(postgres, guarded_table):
    assert _refused(f"TRUNCATE {guarded_table}")
