"""Appending to a chain: the one place an event row, its links and its log leaf are written.

Callers (the step services) lock the subject row first (`lock_battery`, `lock_lot`), check the state
machine and the licence, then call `append_event` inside the same transaction. The chain head is read
after the lock, so the sequence number and `prev_hash` are those of the last committed event; the
unique (subject, seq) constraint is the backstop should a caller forget the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import JSONField, Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.models import Membership, Organisation
from core.db import hot_cursor
from core.errors import InvalidInput, NotFound, NotPermitted
from custody.errors import IdempotencyKeyReused, NotCustodian, SubjectNotFound
from custody.events.body import BodyInput, event_body, next_second, seal, to_second
from custody.events.licences import history_version, history_version_sql
from custody.events.models import CustodyEvent, EventInput, EventSnapshot
from custody.lots.models import MaterialLot
from custody.transfers.models import Transfer
from custody.transparency.models import PendingLeaf
from custody.transparency.services import enqueue_leaf, enqueue_statement, enqueued
from licensing.models import Facility, Licence
from passport import codes
from passport.models import Battery
from passport.selectors import forget_public_page

# A step may be dated a little ahead of the server clock (devices drift), never more.
CLOCK_SKEW = timedelta(minutes=5)
MAX_KEY_LENGTH = 100
BULK_BATCH = 1000


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: bytes
    occurred_at: datetime


@dataclass(frozen=True)
class Consumed:
    """An input of a transforming event: the subject and the event of its own chain that records it."""

    subject: Battery | MaterialLot
    event: CustodyEvent
    mass_kg: Decimal | None = None

    @property
    def kind(self) -> str:
        return "battery" if isinstance(self.subject, Battery) else "lot"

    def body_input(self) -> BodyInput:
        return BodyInput(self.kind, self.subject.code, bytes(self.event.hash), self.mass_kg)


@dataclass
class Actor:
    """Who acts: the organisation, the user, and when the request came (`recorded_at` to the second)."""

    organisation: Organisation
    user: Any
    now: datetime = field(default_factory=timezone.now)

    @property
    def recorded_at(self) -> datetime:
        return to_second(self.now)


# ---------------------------------------------------------------------------------------------------
# Who, where, when
# ---------------------------------------------------------------------------------------------------
def actor_for(user: Any) -> Actor:
    """The organisation a user records custody steps for; viewers and outsiders may not."""
    organisation = getattr(user, "organisation", None)
    if organisation is None or getattr(user, "role", None) not in (
        Membership.Role.ADMIN,
        Membership.Role.OPERATOR,
    ):
        raise NotPermitted(
            _("Custody steps are recorded by the administrators and operators of an organisation."),
            code="NOT_PERMITTED",
        )
    return Actor(organisation=organisation, user=user)


_SITE_COLUMNS = ["id", "organisation_id", "name", "timezone"]
_UNREAD: Any = object()


def _site_sql() -> str:
    """The actor's site and the version of its licence history, as a subquery to select from or join
    (three parameters: the facility id twice, then the organisation id)."""
    return _cached_sql("site", _build_site_sql)


def _build_site_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(f"f.{quote(name)}" for name in _SITE_COLUMNS) + ", v.n, v.last_id, v.last_at"
    return (
        f"(SELECT {columns} FROM {quote(Facility._meta.db_table)} f, ({history_version_sql()}) v "
        f"WHERE f.{quote('id')} = %s AND f.{quote('organisation_id')} = %s)"
    )


def own_facility(
    actor: Actor, facility: Facility | int | None, *, field: str = "facility", row: Any = _UNREAD
) -> Facility:
    """The actor's own site, or FACILITY_NOT_FOUND (another organisation's site is never usable).

    The same query reads the version of the site's licence history, which `licence_for` needs next.
    `row` is that query's answer when `lock_battery_at` already read it with the battery.
    """
    if facility is None or facility == "":
        raise InvalidInput(_("Choose the site where this happens."), code="FACILITY_REQUIRED", field=field)
    facility_id = facility.pk if isinstance(facility, Facility) else facility
    if row is _UNREAD:
        with hot_cursor() as cursor:
            cursor.execute(
                f"SELECT * FROM {_site_sql()} site", [facility_id, facility_id, actor.organisation.pk]
            )
            row = cursor.fetchone()
    if row is None or row[0] is None:
        raise NotFound(
            _("%(organisation)s has no site with id %(id)s.")
            % {"organisation": actor.organisation.name, "id": facility_id},
            code="FACILITY_NOT_FOUND",
            field=field,
        )
    found = Facility.from_db(connection.alias, _SITE_COLUMNS, row[:4])
    found.licence_history_version = history_version(row[4:])
    return found


def occurred_instant(occurred_at: datetime | None, actor: Actor, *, field: str = "occurred_at") -> datetime:
    """When the step happened, to the second; not in the future."""
    if occurred_at is None:
        # Rounded up: a suspension recorded earlier in this same second must still refuse the step.
        return next_second(actor.now)
    if timezone.is_naive(occurred_at):
        raise InvalidInput(
            _("Give the time with its offset (e.g. 2026-05-01T08:00:00+08:00)."),
            code="TIME_NAIVE",
            field=field,
        )
    if occurred_at > actor.recorded_at + CLOCK_SKEW:
        raise InvalidInput(
            _("The step cannot be dated in the future."), code="OCCURRED_IN_FUTURE", field=field
        )
    return to_second(occurred_at)


def check_after_head(subject: Battery | MaterialLot, head: ChainHead | None, occurred_at: datetime) -> None:
    """A chain runs forward in time: a step is not dated before the subject's previous one."""
    if head is not None and occurred_at < head.occurred_at:
        raise InvalidInput(
            _("%(code)s's previous step is dated %(previous)s; this one cannot be earlier.")
            % {"code": subject.code, "previous": f"{head.occurred_at:%Y-%m-%d %H:%M:%S} UTC"},
            code="OCCURRED_BEFORE_PREVIOUS",
            field="occurred_at",
        )


# ---------------------------------------------------------------------------------------------------
# Subjects
# ---------------------------------------------------------------------------------------------------
def normalised_code(code: str) -> str:
    text = codes.normalise(code or "")
    if not text:
        raise InvalidInput(_("Give the battery code."), code="CODE_REQUIRED", field="code")
    return text


_SQL: dict[tuple[str, str], Any] = {}


def _cached_sql(name: str, build: Callable[[], Any]) -> Any:
    """SQL of the hot path, built once per database vendor (quoting names costs more than it seems)."""
    key = (connection.vendor, name)
    sql = _SQL.get(key)
    if sql is None:
        sql = _SQL[key] = build()
    return sql


class _RowLoader:
    """Model instances from rows of their concrete columns, with the backend's converters.

    What `QuerySet.raw` works out on every call (column order, converters), worked out once per
    database vendor: the locking query runs for every custody step.
    """

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self._plans: dict[str, tuple[str, list[str], list[tuple[int, list[Any], Any]]]] = {}

    def plan(self) -> tuple[str, list[str], list[tuple[int, list[Any], Any]]]:
        """Column list (qualified by the table alias `t`), attribute names, converters by position."""
        plan = self._plans.get(connection.vendor)
        if plan is None:
            meta = self.model._meta
            # JSON columns stay deferred: no step reads them, and decoding them cost more than the rest.
            fields = [field for field in meta.concrete_fields if not isinstance(field, JSONField)]
            quote = connection.ops.quote_name
            columns = ", ".join(f"t.{quote(field.column)}" for field in fields)
            converters = []
            for position, field in enumerate(fields):
                column = field.get_col(meta.db_table)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if found:
                    converters.append((position, found, column))
            plan = (columns, [field.attname for field in fields], converters)
            self._plans[connection.vendor] = plan
        return plan

    def instance(self, row: Sequence[Any]) -> Any:
        _columns, names, converters = self.plan()
        row = list(row[: len(names)])
        for position, functions, column in converters:
            value = row[position]
            for function in functions:
                value = function(value, column, connection)
            row[position] = value
        return self.model.from_db(connection.alias, names, row)


_batteries = _RowLoader(Battery)


def _lock_sql(by: str, with_site: bool) -> str:
    def build() -> str:
        columns, _names, _converters = _batteries.plan()
        quote = connection.ops.quote_name
        table = quote(Battery._meta.db_table)
        # FOR UPDATE OF the battery alone: the site is read, not locked.
        lock = " FOR UPDATE OF t" if connection.features.has_select_for_update else ""
        if not with_site:
            return f"SELECT {columns} FROM {table} t WHERE t.{quote(by)} = %s{lock}"
        site_source = _site_sql()
        names = ", ".join(f"site.{quote(name)}" for name in [*_SITE_COLUMNS, "n", "last_id", "last_at"])
        return (
            f"SELECT {columns}, {names} FROM {table} t LEFT JOIN {site_source} site ON TRUE "
            f"WHERE t.{quote(by)} = %s{lock}"
        )

    return _cached_sql(f"lock:{by}:{with_site}", build)


def lock_battery(code_or_battery: str | Battery, *, field: str = "code") -> Battery:
    """The battery row, locked until the transaction ends: one custody step of a battery at a time."""
    # No join on the battery's columns in the locking query: after waiting for a concurrent step that
    # changed the custodian, PostgreSQL re-checks such a join against the old custodian row and would
    # return no row at all (the site that `lock_battery_at` joins depends on the parameters only).
    # Plain SQL on a prepared statement: every step runs it, and compiling the ORM query cost more
    # than running it.
    if isinstance(code_or_battery, Battery):
        with hot_cursor() as cursor:
            cursor.execute(_lock_sql("id", False), [code_or_battery.pk])
            return _batteries.instance(cursor.fetchone())
    battery, _site = _lock(code_or_battery, None, field=field)
    return battery


def lock_battery_at(
    code: str, actor: Actor, facility: Facility | int | None, *, field: str = "code"
) -> tuple[Battery, Any]:
    """`lock_battery`, reading the actor's site in the same query: pass the second value to
    `own_facility` as `row`, which refuses a missing or foreign site as it always does."""
    facility_id = facility.pk if isinstance(facility, Facility) else facility
    if type(facility_id) is not int:  # nothing to look up, or a value the site query must explain
        return lock_battery(code, field=field), _UNREAD
    return _lock(code, (facility_id, actor.organisation.pk), field=field)


def _lock(code: str, site: tuple[int, int] | None, *, field: str) -> tuple[Battery, Any]:
    code = normalised_code(code)
    with hot_cursor() as cursor:
        if site is None:
            cursor.execute(_lock_sql("code", False), [code])
        else:
            facility_id, organisation_id = site
            cursor.execute(_lock_sql("code", True), [facility_id, facility_id, organisation_id, code])
        row = cursor.fetchone()
    if row is None:
        raise SubjectNotFound(
            _("No battery is registered under %(code)s.") % {"code": code},
            code="BATTERY_NOT_FOUND",
            field=field,
        )
    battery = _batteries.instance(row)
    return battery, (row[len(_batteries.plan()[1]) :] if site is not None else _UNREAD)


def lock_lot(code_or_lot: str | MaterialLot, *, field: str = "code") -> MaterialLot:
    """The lot row, locked until the transaction ends."""
    query = MaterialLot.objects.select_for_update().order_by()
    if isinstance(code_or_lot, MaterialLot):
        return query.get(pk=code_or_lot.pk)
    code = (code_or_lot or "").strip().upper()
    lot = query.filter(code=code).first()
    if lot is None:
        raise SubjectNotFound(
            _("No material lot has the code %(code)s.") % {"code": code}, code="LOT_NOT_FOUND", field=field
        )
    return lot


def require_custodian(subject: Battery | MaterialLot, actor: Actor, *, field: str = "code") -> None:
    """Only the organisation holding a battery or lot acts on it."""
    if subject.current_custodian_id != actor.organisation.pk:
        raise NotCustodian(
            _("%(code)s is held by another organisation; only its custodian can record this step.")
            % {"code": subject.code},
            field=field,
        )


def _head_sql(column: str, with_pending: bool) -> tuple[str, str]:
    def build() -> tuple[str, str]:
        quote = connection.ops.quote_name
        events, transfers = quote(CustodyEvent._meta.db_table), quote(Transfer._meta.db_table)
        pending = (
            f"SELECT COUNT(*) FROM {transfers} WHERE {quote(column)} = %s AND {quote('status')} = 'pending'"
        )
        head = (
            f"SELECT {quote('seq')}, {quote('hash')}, {quote('occurred_at')}"
            f"{f', ({pending})' if with_pending else ''} FROM {events} "
            f"WHERE {quote(column)} = %s ORDER BY {quote('seq')} DESC LIMIT 1"
        )
        return head, pending

    return _cached_sql(f"head:{column}:{with_pending}", build)


def _head_row(subject: Battery | MaterialLot, *, with_pending: bool) -> tuple[Any, ...] | None:
    """(seq, hash, occurred_at[, open transfer offers]) of the subject's last event, in one query.

    Plain SQL: this runs for every step, and compiling the ORM query cost more than running it.
    """
    head, pending = _head_sql("battery_id" if isinstance(subject, Battery) else "lot_id", with_pending)
    with hot_cursor() as cursor:
        cursor.execute(head, [subject.pk, subject.pk] if with_pending else [subject.pk])
        row = cursor.fetchone()
        if row is None and with_pending:  # no event yet: the offers still count
            cursor.execute(pending, [subject.pk])
            row = (None, None, None, cursor.fetchone()[0])
    return row


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not a time: {value!r}")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def chain_head(subject: Battery | MaterialLot) -> ChainHead | None:
    """The subject's last event (sequence number, hash, time), read after the subject row is locked."""
    row = _head_row(subject, with_pending=False)
    if row is None or row[0] is None:
        return None
    return ChainHead(int(row[0]), bytes(row[1]), _instant(row[2]))


def open_head(subject: Battery | MaterialLot, *, field: str = "code") -> ChainHead | None:
    """The chain head, after checking no transfer offer of the subject is open (TRANSFER_PENDING)."""
    row = _head_row(subject, with_pending=True)
    if row is not None and row[3]:
        from custody.services.common import refuse_if_transfer_pending

        refuse_if_transfer_pending(subject, field=field)
    if row is None or row[0] is None:
        return None
    return ChainHead(int(row[0]), bytes(row[1]), _instant(row[2]))


# ---------------------------------------------------------------------------------------------------
# Idempotency
# ---------------------------------------------------------------------------------------------------
def clean_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = str(key).strip()
    if not key:
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            _("An idempotency key is at most %(max)d printable characters.") % {"max": MAX_KEY_LENGTH},
            code="IDEMPOTENCY_KEY_INVALID",
            field="idempotency_key",
        )
    return key


def replayed(actor: Actor, key: str | None, fingerprint: str) -> CustodyEvent | None:
    """The event a previous request with this key recorded, if the request is the same; 409 if not."""
    if key is None:
        return None
    event = CustodyEvent.objects.filter(actor=actor.organisation, idempotency_key=key).first()
    if event is None:
        return None
    if event.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            _(
                "The idempotency key %(key)s was already used for a different request by your "
                "organisation; use a new key for a new request."
            )
            % {"key": key},
            field="idempotency_key",
        )
    return event


# ---------------------------------------------------------------------------------------------------
# Appending
# ---------------------------------------------------------------------------------------------------
_EVENT_COLUMNS = (
    "type", "battery_id", "lot_id", "seq", "actor_id", "actor_user_id", "facility_id", "activity",
    "occurred_at", "recorded_at", "licence_id", "licence_status", "transfer_id", "idempotency_key",
    "request_fingerprint", "prev_hash", "hash", "body",
)  # fmt: skip


def _insert_sql() -> str:
    def build() -> str:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column in _EVENT_COLUMNS)
        return (
            f"INSERT INTO {quote(CustodyEvent._meta.db_table)} ({columns}) "
            f"VALUES ({', '.join(['%s'] * len(_EVENT_COLUMNS))}) RETURNING {quote('id')}"
        )

    return _cached_sql("insert", build)


def _insert_event(subject_fields: Sequence[str] = (), **fields: Any) -> CustodyEvent:
    """Insert one event row, queue its hash for the log and save `subject_fields` of its subject.

    Plain SQL: the ORM's insert cost more than the row. On PostgreSQL the three writes are one
    statement (data-modifying CTEs), so a step costs one round trip here instead of three.
    """
    event = CustodyEvent(**fields)
    adapt = connection.ops.adapt_datetimefield_value
    values = [getattr(event, column) for column in _EVENT_COLUMNS]
    values[8], values[9] = adapt(values[8]), adapt(values[9])  # occurred_at, recorded_at
    insert = _insert_sql()
    queue, queue_params = enqueue_statement(event_hash=bytes(event.hash))
    subject = event.battery if event.battery_id else event.lot
    if connection.vendor == "postgresql":
        params = [*values, *queue_params]
        update = ""
        if subject_fields:
            update, update_params = _update_statement(subject, subject_fields)
            update = f", saved AS ({update})"
            params.extend(update_params)
        with hot_cursor() as cursor:
            cursor.execute(
                f"WITH new_event AS ({insert}), queued AS ({queue}){update} "
                "SELECT (SELECT id FROM new_event), (SELECT id FROM queued)",
                params,
            )
            event.pk, queued = cursor.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(insert, values)
            event.pk = cursor.fetchone()[0]
            cursor.execute(queue, queue_params)
            queued = cursor.fetchone()
        if subject_fields:
            subject.save(update_fields=list(subject_fields))
    event._state.adding = False
    event._state.db = connection.alias
    # A refusal here propagates out of the step's atomic block, which rolls the event back with it.
    enqueued(queued is not None)
    return event


def _update_statement(subject: Model, names: Sequence[str]) -> tuple[str, list[Any]]:
    """UPDATE of some fields of one row, as `save(update_fields=...)` would write them."""
    meta = subject._meta
    fields = [meta.get_field(name) for name in names]

    def build() -> str:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"

    sql = _cached_sql(f"update:{meta.label}:{','.join(names)}", build)
    params = [field.get_db_prep_save(getattr(subject, field.attname), connection) for field in fields]
    return sql, [*params, subject.pk]


def append_event(
    *,
    subject: Battery | MaterialLot,
    type: str,
    actor: Actor,
    occurred_at: datetime,
    head: ChainHead | None,
    facility: Facility | None = None,
    activity: str | None = None,
    licence: Licence | None = None,
    snapshots: Sequence[Any] = (),
    inputs: Sequence[Consumed] = (),
    data: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    transfer: Any = None,
    forget_page: bool = True,
    subject_changes: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Write one event at the head of the subject's chain and queue its hash for the log.

    `subject_changes` are the subject's new field values after this step (its status, its custodian):
    they are set on the instance and saved with the event. `forget_page=False` skips dropping the shared
    public page (a battery registered a moment ago has none).
    """
    is_battery = isinstance(subject, Battery)
    seq = 0 if head is None else head.seq + 1
    prev_hash = None if head is None else head.hash
    body = event_body(
        type=type,
        subject_kind="battery" if is_battery else "lot",
        subject_code=subject.code,
        seq=seq,
        prev_hash=prev_hash,
        occurred_at=occurred_at,
        recorded_at=actor.recorded_at,
        actor=actor.organisation.name,
        actor_id=actor.organisation.pk,
        facility_id=facility.pk if facility else None,
        activity=activity,
        licence_id=licence.pk if licence else None,
        licence_status="active" if licence else None,
        snapshots=[snapshot.payload_hash for snapshot in snapshots],
        inputs=[item.body_input() for item in inputs],
        data=data or {},
    )
    text, digest = seal(body)
    for name, value in (subject_changes or {}).items():
        setattr(subject, name, value)
    event = _insert_event(
        list(subject_changes or ()),
        type=type,
        battery=subject if is_battery else None,
        lot=None if is_battery else subject,
        seq=seq,
        actor=actor.organisation,
        actor_user=actor.user if getattr(actor.user, "pk", None) else None,
        facility=facility,
        activity=activity or "",
        occurred_at=occurred_at,
        recorded_at=actor.recorded_at,
        licence=licence,
        licence_status="active" if licence else "",
        transfer=transfer,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        prev_hash=prev_hash,
        hash=digest,
        body=text,
    )
    if snapshots:
        EventSnapshot.objects.bulk_create(
            EventSnapshot(event=event, snapshot=snapshot) for snapshot in snapshots
        )
    if inputs:
        EventInput.objects.bulk_create(
            EventInput(
                event=event,
                position=position,
                input_event=item.event,
                input_battery=item.subject if item.kind == "battery" else None,
                input_lot=item.subject if item.kind == "lot" else None,
                mass_kg=item.mass_kg,
            )
            for position, item in enumerate(inputs)
        )
    if is_battery and forget_page:
        code = subject.code
        transaction.on_commit(lambda: forget_public_page(code))
    return event


def build_event(
    *,
    subject: Battery | MaterialLot,
    type: str,
    actor: Actor,
    occurred_at: datetime,
    head: ChainHead | None,
    facility: Facility | None = None,
    activity: str | None = None,
    licence: Licence | None = None,
    data: dict[str, Any],
) -> CustodyEvent:
    """The unsaved event at the head of a chain, for `write_events` (steps recorded in bulk)."""
    is_battery = isinstance(subject, Battery)
    seq = 0 if head is None else head.seq + 1
    prev_hash = None if head is None else head.hash
    body = event_body(
        type=type,
        subject_kind="battery" if is_battery else "lot",
        subject_code=subject.code,
        seq=seq,
        prev_hash=prev_hash,
        occurred_at=occurred_at,
        recorded_at=actor.recorded_at,
        actor=actor.organisation.name,
        actor_id=actor.organisation.pk,
        facility_id=facility.pk if facility else None,
        activity=activity,
        licence_id=licence.pk if licence else None,
        licence_status="active" if licence else None,
        snapshots=[],
        inputs=[],
        data=data,
    )
    text, digest = seal(body)
    return CustodyEvent(
        type=type,
        battery=subject if is_battery else None,
        lot=None if is_battery else subject,
        seq=seq,
        actor=actor.organisation,
        actor_user=actor.user if getattr(actor.user, "pk", None) else None,
        facility=facility,
        activity=activity or "",
        occurred_at=occurred_at,
        recorded_at=actor.recorded_at,
        licence=licence,
        licence_status="active" if licence else "",
        prev_hash=prev_hash,
        hash=digest,
        body=text,
    )


def write_events(events: list[CustodyEvent]) -> list[CustodyEvent]:
    """Insert many events at once and queue their hashes for the log, in the caller's transaction.

    The caller holds the locks of the subjects (or they are new). The hashes are queued in bulk: all but
    the last directly in the log's queue, the last through `enqueue_leaf`, which also schedules
    sequencing after the commit. None can already be a leaf: each body names its subject and position
    in a chain, and (subject, seq) is unique.
    """
    if not events:
        return []
    created = CustodyEvent.objects.bulk_create(events, batch_size=BULK_BATCH)
    now = timezone.now()
    PendingLeaf.objects.bulk_create(
        [PendingLeaf(event_hash=bytes(event.hash), enqueued_at=now) for event in created[:-1]],
        batch_size=BULK_BATCH,
    )
    enqueue_leaf(event_hash=bytes(created[-1].hash))
    return created


def new_head(event: CustodyEvent) -> ChainHead:
    """The chain head after `event` (for a second step on the same subject in one transaction)."""
    return ChainHead(event.seq, bytes(event.hash), event.occurred_at)
