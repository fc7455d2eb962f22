"""Append-only tables (refused by the ORM and by database triggers on PostgreSQL and SQLite), and a
prepared-statement cursor and lookup for hot paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connections, models
from django.db.backends.signals import connection_created
from django.db.migrations.operations.base import Operation
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from core.errors import AppendOnlyViolation

_test_purge: ContextVar[bool] = ContextVar("voltrace_test_purge", default=False)


def _sqlite_test_purge() -> int:
    return int(_test_purge.get())


@receiver(connection_created)
def _register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    # The SQLite triggers call this function; it is false except while a test database is reset.
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "voltrace_test_purge", 0, _sqlite_test_purge, deterministic=False
        )


@contextmanager
def purge_for_tests(connection: Any) -> Iterator[None]:
    """Let the test runner empty append-only tables between tests (only in a test_* database)."""
    token = _test_purge.set(True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET voltrace.test_purge = 'on'")
    try:
        yield
    finally:
        _test_purge.reset(token)
        if connection.vendor == "postgresql" and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("RESET voltrace.test_purge")


_PREPARE_ONLY_WHEN_ASKED = 2**31 - 1
_HOT_CURSOR = "_voltrace_hot_cursor"


class _PreparedCursor:
    """A psycopg cursor with server-side binding whose statements are prepared once per connection; one
    per connection, reused (see `hot_cursor`)."""

    def __init__(self, db: Any) -> None:
        import psycopg

        self.db = db
        self.raw = db.connection
        self.cursor = psycopg.Cursor(self.raw)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.db.validate_no_broken_transaction()
        with self.db.wrap_database_errors:
            self.cursor.execute(sql, params, prepare=True)

    def fetchone(self) -> Any:
        return self.cursor.fetchone()  # the rows are already here: nothing left to fail

    def fetchall(self) -> list[Any]:
        return self.cursor.fetchall()


@contextmanager
def hot_cursor(db: Any = None) -> Iterator[Any]:
    """A cursor for statements that run on every request of a hot path, with the same SQL each time.

    On PostgreSQL their parameters are bound on the server and each statement is prepared once per
    connection, so the server neither parses nor plans it again: that halved the database's CPU time
    of a custody step. Elsewhere, or while queries are being logged (DEBUG, tests capturing them),
    this is Django's own cursor.
    """
    db = db or connections[DEFAULT_DB_ALIAS]  # the `connection` proxy costs a lookup per attribute
    if db.vendor != "postgresql" or db.queries_logged:
        with db.cursor() as cursor:
            yield cursor
        return
    db.close_if_health_check_failed()
    db.ensure_connection()
    if not getattr(settings, "PREPARED_HOT_STATEMENTS", True):  # e.g. behind a pooler that drops them
        with db.cursor() as cursor:
            yield cursor
        return
    cursor = db.__dict__.get(_HOT_CURSOR)
    if cursor is None or cursor.raw is not db.connection:  # a new connection since
        if db.connection.prepare_threshold is None:
            # Django turns psycopg's automatic preparation off; its own cursors bind on the client and
            # never prepare, so this only lets the statements here, which ask for it, be prepared.
            db.connection.prepare_threshold = _PREPARE_ONLY_WHEN_ASKED
        cursor = db.__dict__[_HOT_CURSOR] = _PreparedCursor(db)
    yield cursor


_LOOKUP_PLACEHOLDER = "\x00voltrace-lookup\x00"


class PreparedLookup:
    """One object by one value, with its `select_related` objects, through `hot_cursor`.

    `build(value)` gives the queryset for a value; its SQL must be the same for every value, with the
    value as its only parameter. On PostgreSQL the statement is then compiled once per process and
    prepared once per connection: a lookup joining eight tables cost PostgreSQL more to plan each time
    (about 7 ms) than to run (0.4 ms). Elsewhere, and while queries are logged, it is the ORM's `get`.
    """

    def __init__(self, build: Callable[[Any], models.QuerySet[Any]]) -> None:
        self._build = build
        self._compiled: dict[str, Any] = {}

    def get(self, value: Any, *, using: str = DEFAULT_DB_ALIAS) -> Any:
        """The object, or None when no row matches."""
        db = connections[using]
        if db.vendor != "postgresql" or db.queries_logged:
            return self._build(value).using(using).first()
        compiled = self._compiled.get(using) or self._compile(using)
        sql, compiler, init_list, start, end, populators = compiled
        with hot_cursor(db) as cursor:
            cursor.execute(sql, [value])
            row = cursor.fetchone()
        if row is None:
            return None
        row = next(compiler.results_iter(results=[[row]]))  # the backend's converters, as the ORM applies
        obj = compiler.query.model.from_db(using, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        return obj

    def _compile(self, using: str) -> Any:
        from django.db.models.query import get_related_populators

        queryset = self._build(_LOOKUP_PLACEHOLDER).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        if tuple(params) != (_LOOKUP_PLACEHOLDER,):
            raise ValueError("A prepared lookup takes exactly one parameter, the value looked up.")
        klass_info = compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [column[0].target.attname for column in compiler.select[start:end]]
        populators = get_related_populators(klass_info, compiler.select, using)
        compiled = self._compiled[using] = (sql, compiler, init_list, start, end, populators)
        return compiled


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses bulk updates and deletes; rows are only ever added."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyViolation(_("%(model)s rows are append-only.") % {"model": self.model.__name__})

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyViolation(_("%(model)s rows are append-only.") % {"model": self.model.__name__})


class AppendOnlyModel(models.Model):
    """A row that is written once and never updated or deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyViolation(_("%(model)s rows are append-only.") % {"model": type(self).__name__})
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyViolation(_("%(model)s rows are append-only.") % {"model": type(self).__name__})


class AppendOnlyTrigger(Operation):
    """Migration operation: install triggers that refuse UPDATE and DELETE on a table.

    `allow_update_of` names columns that may still change (for example a crypto-shredded payload),
    every other column is immutable. Works on PostgreSQL and SQLite.
    """

    reduces_to_sql = True
    reversible = True

    def __init__(
        self, table: str, *, allow_delete: bool = False, allow_update_of: tuple[str, ...] = ()
    ) -> None:
        self.table = table
        self.allow_delete = allow_delete
        self.allow_update_of = tuple(allow_update_of)

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if self.allow_delete:
            kwargs["allow_delete"] = True
        if self.allow_update_of:
            kwargs["allow_update_of"] = self.allow_update_of
        return ("core.db.AppendOnlyTrigger", [self.table], kwargs)

    def describe(self) -> str:
        return f"Make {self.table} append-only"

    def _columns(self, schema_editor: Any) -> list[str]:
        with schema_editor.connection.cursor() as cursor:
            description = schema_editor.connection.introspection.get_table_description(cursor, self.table)
        return [column.name for column in description]

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        for statement in self.forward_sql(schema_editor):
            schema_editor.execute(statement, params=None)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        for statement in self.backward_sql(schema_editor):
            schema_editor.execute(statement, params=None)

    def forward_sql(self, schema_editor: Any) -> list[str]:
        name = f"{self.table}_append_only"
        message = f"{self.table} is append-only"
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            # Compare whole rows as JSON so columns added later are protected without a new trigger.
            allowed = ", ".join(f"'{c}'" for c in self.allow_update_of)
            strip = f" - ARRAY[{allowed}]::text[]" if allowed else ""
            on_delete = (
                "RETURN OLD;" if self.allow_delete else f"RAISE EXCEPTION '{message}: DELETE refused';"
            )
            return [
                rf"""CREATE OR REPLACE FUNCTION {name}_guard() RETURNS trigger AS $$
                BEGIN
                  -- Only a test database being reset between tests may purge (see core.db.purge_for_tests).
                  IF current_database() LIKE 'test\_%'
                     AND current_setting('voltrace.test_purge', true) = 'on' THEN
                    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
                  END IF;
                  IF TG_OP = 'TRUNCATE' THEN
                    RAISE EXCEPTION '{message}: TRUNCATE refused';
                  END IF;
                  IF TG_OP = 'DELETE' THEN
                    {on_delete}
                  END IF;
                  IF (to_jsonb(NEW){strip}) IS DISTINCT FROM (to_jsonb(OLD){strip}) THEN
                    RAISE EXCEPTION '{message}: UPDATE refused';
                  END IF;
                  RETURN NEW;
                END $$ LANGUAGE plpgsql""",
                f'CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON "{self.table}" '
                f"FOR EACH ROW EXECUTE FUNCTION {name}_guard()",
                f'CREATE TRIGGER {name}_truncate BEFORE TRUNCATE ON "{self.table}" '
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_guard()",
            ]
        if vendor == "sqlite":
            immutable = [c for c in self._columns(schema_editor) if c not in self.allow_update_of]
            changed = " OR ".join(f'NEW."{c}" IS NOT OLD."{c}"' for c in immutable) or "0"
            statements = [
                f'CREATE TRIGGER {name}_update BEFORE UPDATE ON "{self.table}" '
                f"WHEN ({changed}) AND NOT voltrace_test_purge() "
                f"BEGIN SELECT RAISE(ABORT, '{message}: UPDATE refused'); END"
            ]
            if not self.allow_delete:
                statements.append(
                    f'CREATE TRIGGER {name}_delete BEFORE DELETE ON "{self.table}" '
                    f"WHEN NOT voltrace_test_purge() "
                    f"BEGIN SELECT RAISE(ABORT, '{message}: DELETE refused'); END"
                )
            return statements
        raise NotSupportedError(f"Append-only triggers are not written for {vendor}.")

    def backward_sql(self, schema_editor: Any) -> list[str]:
        name = f"{self.table}_append_only"
        if schema_editor.connection.vendor == "postgresql":
            return [
                f'DROP TRIGGER IF EXISTS {name}_truncate ON "{self.table}"',
                f'DROP TRIGGER IF EXISTS {name} ON "{self.table}"',
                f"DROP FUNCTION IF EXISTS {name}_guard()",
            ]
        return [f"DROP TRIGGER IF EXISTS {name}_update", f"DROP TRIGGER IF EXISTS {name}_delete"]
