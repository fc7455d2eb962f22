"""Appending to a chain: the one place an event row, its links and its log leaf are written.

Callers (the step services) lock the subject row first (`lock_battery`, `lock_lot`), check the state
machine and the licence, then call `append_event` inside the same transaction. The chain head is read
after the lock, so the sequence number and `prev_hash` are those of the last committed event; the
unique (subject, seq) constraint is the backstop should a caller forget the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.models import Membership, Organisation
from core.errors import InvalidInput, NotFound, NotPermitted
from custody.errors import IdempotencyKeyReused, NotCustodian, SubjectNotFound
from custody.events.body import BodyInput, event_body, next_second, seal, to_second
from custody.events.licences import history_version, history_version_sql
from custody.events.models import CustodyEvent, EventInput, EventSnapshot
from custody.lots.models import MaterialLot
from custody.transfers.models import Transfer
from custody.transparency.models import PendingLeaf
from custody.transparency.services import enqueue_leaf
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


def own_facility(actor: Actor, facility: Facility | int | None, *, field: str = "facility") -> Facility:
    """The actor's own site, or FACILITY_NOT_FOUND (another organisation's site is never usable).

    The same query reads the version of the site's licence history, which `licence_for` needs next.
    """
    if facility is None or facility == "":
        raise InvalidInput(_("Choose the site where this happens."), code="FACILITY_REQUIRED", field=field)
    facility_id = facility.pk if isinstance(facility, Facility) else facility
    quote = connection.ops.quote_name
    sql = (
        f"SELECT f.{quote('id')}, f.{quote('organisation_id')}, f.{quote('name')}, f.{quote('timezone')}, "
        f"v.n, v.last_id, v.last_at FROM {quote(Facility._meta.db_table)} f, ({history_version_sql()}) v "
        f"WHERE f.{quote('id')} = %s AND f.{quote('organisation_id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [facility_id, facility_id, actor.organisation.pk])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(
            _("%(organisation)s has no site with id %(id)s.")
            % {"organisation": actor.organisation.name, "id": facility_id},
            code="FACILITY_NOT_FOUND",
            field=field,
        )
    found = Facility.from_db(connection.alias, ["id", "organisation_id", "name", "timezone"], row[:4])
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


def lock_battery(code_or_battery: str | Battery, *, field: str = "code") -> Battery:
    """The battery row, locked until the transaction ends: one custody step of a battery at a time."""
    # No join in the locking query: after waiting for a concurrent step that changed the custodian,
    # PostgreSQL re-checks the join against the old custodian row and would return no row at all.
    # Plain SQL: every step runs it, and compiling the ORM query cost more than running it.
    table = connection.ops.quote_name(Battery._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    if isinstance(code_or_battery, Battery):
        rows = Battery.objects.raw(f"SELECT * FROM {table} WHERE id = %s{lock}", [code_or_battery.pk])
        return next(iter(rows))
    code = normalised_code(code_or_battery)
    found = list(Battery.objects.raw(f"SELECT * FROM {table} WHERE code = %s{lock}", [code]))
    if not found:
        raise SubjectNotFound(
            _("No battery is registered under %(code)s.") % {"code": code},
            code="BATTERY_NOT_FOUND",
            field=field,
        )
    return found[0]


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


def _head_row(subject: Battery | MaterialLot, *, with_pending: bool) -> tuple[Any, ...] | None:
    # Plain SQL: this runs for every step, and compiling the ORM query cost more than running it.
    quote = connection.ops.quote_name
    column = quote("battery_id" if isinstance(subject, Battery) else "lot_id")
    events = quote(CustodyEvent._meta.db_table)
    head = f"SELECT {{}} FROM {events} WHERE {column} = %s ORDER BY {quote('seq')} DESC LIMIT 1"
    parts = [f"({head.format(quote(name))})" for name in ("seq", "hash", "occurred_at")]
    params: list[Any] = [subject.pk] * 3
    if with_pending:
        transfers = quote(Transfer._meta.db_table)
        parts.append(
            f"(SELECT COUNT(*) FROM {transfers} WHERE {column} = %s AND {quote('status')} = 'pending')"
        )
        params.append(subject.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        return cursor.fetchone()


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


def _insert_event(**fields: Any) -> CustodyEvent:
    """Insert one event row and return it as saved (plain SQL: the ORM's insert cost more than the row)."""
    event = CustodyEvent(**fields)
    ops = connection.ops
    values = []
    for column in _EVENT_COLUMNS:
        value = getattr(event, column)
        if column in ("occurred_at", "recorded_at"):
            value = ops.adapt_datetimefield_value(value)
        values.append(value)
    quote = ops.quote_name
    columns = ", ".join(quote(column) for column in _EVENT_COLUMNS)
    sql = (
        f"INSERT INTO {quote(CustodyEvent._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(_EVENT_COLUMNS))}) RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias
    return event


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
) -> CustodyEvent:
    """Write one event at the head of the subject's chain and queue its hash for the log.

    `forget_page=False` skips dropping the shared public page (a battery registered a moment ago has none).
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
    event = _insert_event(
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
    enqueue_leaf(event_hash=digest)
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
