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


class _PreparedQuery:
    """A queryset compiled once per process and prepared once per PostgreSQL connection.

    `build(*values)` gives the queryset for some values; its SQL must be the same whatever the values,
    which appear in it only as parameters. It is compiled once with `placeholders` (values of the right
    type that appear nowhere else in the query), and each run binds the real values in their places.
    """

    def __init__(self, build: Callable[..., models.QuerySet[Any]], placeholders: tuple[Any, ...]) -> None:
        self._build = build
        self._placeholders = placeholders
        self._compiled: dict[str, Any] = {}

    def _prepared(self, db: Any) -> bool:
        return db.vendor == "postgresql" and not db.queries_logged

    def _run(self, using: str, values: tuple[Any, ...], *, one: bool) -> tuple[Any, list[Any]]:
        """(the compiled statement, its raw rows) for these values."""
        compiled = self._compiled.get(using) or self._compile(using)
        params = list(compiled["constants"])
        for position, value in zip(compiled["positions"], values, strict=True):
            params[position] = value
        with hot_cursor(connections[using]) as cursor:
            cursor.execute(compiled["sql"], params)
            if one:
                row = cursor.fetchone()
                return compiled, [] if row is None else [row]
            return compiled, cursor.fetchall()

    def _compile(self, using: str) -> dict[str, Any]:
        queryset = self._build(*self._placeholders).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        params = tuple(params)
        positions = []
        for placeholder in self._placeholders:
            if params.count(placeholder) != 1:
                raise ValueError(
                    f"A prepared query needs each placeholder exactly once among its parameters; "
                    f"{placeholder!r} appears {params.count(placeholder)} times in {params!r}."
                )
            positions.append(params.index(placeholder))
        compiled = {"sql": sql, "compiler": compiler, "constants": params, "positions": positions}
        compiled.update(self._shape(queryset, compiler, using))
        self._compiled[using] = compiled
        return compiled

    def _shape(self, queryset: models.QuerySet[Any], compiler: Any, using: str) -> dict[str, Any]:
        return {}


class PreparedLookup(_PreparedQuery):
    """One object by one value, with its `select_related` objects, as a prepared statement.

    `build(value)` gives the queryset for a value. A lookup joining eight tables cost PostgreSQL more to
    plan each time (about 7 ms) than to run (0.4 ms). Elsewhere, and while queries are logged, it is the
    ORM's own `first()`.
    """

    def __init__(self, build: Callable[[Any], models.QuerySet[Any]]) -> None:
        super().__init__(build, (_LOOKUP_PLACEHOLDER,))

    def get(self, value: Any, *, using: str = DEFAULT_DB_ALIAS) -> Any:
        """The object, or None when no row matches."""
        if not self._prepared(connections[using]):
            return self._build(value).using(using).first()
        compiled, rows = self._run(using, (value,), one=True)
        if not rows:
            return None
        compiler = compiled["compiler"]
        row = next(compiler.results_iter(results=[rows]))  # the backend's converters, as the ORM applies
        start, end = compiled["model_columns"]
        obj = compiler.query.model.from_db(using, compiled["init_list"], row[start:end])
        for populator in compiled["populators"]:
            populator.populate(row, obj)
        return obj

    def _shape(self, queryset: models.QuerySet[Any], compiler: Any, using: str) -> dict[str, Any]:
        from django.db.models.query import get_related_populators

        klass_info = compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return {
            "model_columns": (start, end),
            "init_list": [column[0].target.attname for column in compiler.select[start:end]],
            "populators": get_related_populators(klass_info, compiler.select, using),
        }


class PreparedRows(_PreparedQuery):
    """The rows of a `values_list` queryset, as tuples in its field order, as a prepared statement.

    See `_PreparedQuery` for `build` and `placeholders`. Elsewhere, and while queries are logged, it is
    the ORM's own query.
    """

    def rows(self, *values: Any, using: str = DEFAULT_DB_ALIAS) -> list[tuple[Any, ...]]:
        if not self._prepared(connections[using]):
            return list(self._build(*values).using(using))
        compiled, rows = self._run(using, values, one=False)
        # Django 5.2 selects the columns in the order values_list() names them, annotations included.
        return [tuple(row) for row in compiled["compiler"].results_iter(results=[rows])]

    def _shape(self, queryset: models.QuerySet[Any], compiler: Any, using: str) -> dict[str, Any]:
        from django.db.models.query import ValuesListIterable

        if queryset._iterable_class is not ValuesListIterable:
            raise ValueError("A prepared rows query is a values_list() queryset (not flat, not named).")
        return {}


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
