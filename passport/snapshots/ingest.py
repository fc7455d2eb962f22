"""Ingest of signed BMS snapshots: one envelope or a batch, checked, sealed and stored set-based.

The API, the web upload and `manage.py ingest_snapshots` all end in `ingest_documents`. A batch of up
to 1,000 envelopes costs a fixed number of queries, whatever its size: one for the batteries, two for
the keys and their revocations, one for live grants, two for replays, one bulk insert, and the
plausibility re-evaluation of the affected batteries (see `evaluation.py`). Each envelope is checked
on its own, in this order, and the first failing check names the refusal (codes in `errors.py`):

1. strict schema (`schema.validate_envelope`);
2. the key: known, registered for BMS snapshots, `signature.alg` its algorithm, the signature valid
   over the RFC 8785 bytes of `payload`, the key valid and not revoked at `captured_at`, and owned
   by the uploader's organisation;
3. the battery: registered under the normalised `battery_code`, and the uploader its OEM, its current
   custodian or the holder of a live legitimate-interest grant on it (test labs report on a battery
   through a grant from its custodian);
4. time: `captured_at` not before the production date (in the earliest time zone) nor later than now
   plus `SNAPSHOT_CLOCK_SKEW`;
5. no replay: neither the payload hash nor the device's (key, device id, sequence) already stored,
   nor earlier in the same batch.

Shortcuts, each refusing exactly what the plain path refuses (tests/passport/test_snapshot_ingest_*):
the canonical bytes come from `core.canonical.canonicalize` (a C-encoder fast path proven equal to
RFC 8785, falling back to the reference writer); Ed25519 verification goes through PyNaCl when
installed; a JSON array is parsed in one strict pass, and only when that pass refuses something
inside one item is the array split so that the other items still go through; the valid rows of a
batch are inserted with one `bulk_create` in one transaction, falling back to one savepoint per row
only if that insert meets a duplicate stored concurrently.

Stored: the metadata in clear, the canonical payload bytes sealed with `core.envelope.seal` under the
associated data `b"voltrace.snapshot/1|" + payload_hash` (`models.snapshot_aad`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation
from core import signing
from core.canonical import CanonicalizationError, StrictJsonError, canonicalize, parse_json_strict, sha256_hex
from core.envelope import seal
from core.errors import DomainError
from passport import codes
from passport.models import AccessGrant, Battery, DeviceKey
from passport.selectors import key_valid_at
from passport.snapshots import evaluation
from passport.snapshots.checks import MIN_RETENTION_YEARS
from passport.snapshots.errors import (
    BatchInvalid,
    BodyTooLarge,
    SnapshotConflict,
    SnapshotForbidden,
    SnapshotRefused,
)
from passport.snapshots.models import Snapshot, snapshot_aad
from passport.snapshots.plausibility import cells_fingerprint, measurement_shape_hash
from passport.snapshots.schema import (
    MAX_ENVELOPE_BYTES,
    MAX_ENVELOPE_DEPTH,
    SnapshotEnvelope,
    SnapshotRejected,
    strict_json_rejection,
    validate_envelope,
)

# Strict-JSON refusals that sit inside one item of an array: the array is split and only that item fails.
_ITEM_LEVEL_CODES = frozenset(
    {"DUPLICATE_KEY", "NON_FINITE_NUMBER", "NUMBER_OUT_OF_RANGE", "INVALID_UNICODE", "TOO_DEEP"}
)


def retention_years() -> int:
    """Years a snapshot is kept after capture: the setting, never less than 8."""
    return max(MIN_RETENTION_YEARS, int(settings.SNAPSHOT_RETENTION_YEARS))


def add_years(moment: datetime, years: int) -> datetime:
    """The same calendar instant `years` later (29 February becomes 1 March)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, month=3, day=1)


def retention_until_for(captured_at: datetime) -> datetime:
    return add_years(captured_at, retention_years())


def earliest_capture(production_date: date) -> datetime:
    """The first instant that is on the production date somewhere on Earth (UTC+14)."""
    return datetime.combine(production_date, time.min, tzinfo=UTC) - timedelta(hours=14)


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------
STORED = "stored"
REFUSED = "refused"


@dataclass
class ItemResult:
    """What happened to one envelope of a request or file."""

    index: int
    status: str = REFUSED
    snapshot_id: int | None = None
    payload_hash: str | None = None
    battery_code: str | None = None
    error: DomainError | None = None
    source: str | None = None

    @property
    def stored(self) -> bool:
        return self.status == STORED

    @property
    def http_status(self) -> int:
        return 201 if self.error is None else self.error.status_code

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.source is not None:
            body["source"] = self.source
        if self.error is None:
            body.update(
                {
                    "snapshot_id": self.snapshot_id,
                    "payload_hash": self.payload_hash,
                    "battery_code": self.battery_code,
                }
            )
        else:
            body["error"] = self.error.as_dict()
            body["http_status"] = self.error.status_code
        return body


# ---------------------------------------------------------------------------------------------------
# Request bodies: one envelope or an array, limits before parsing
# ---------------------------------------------------------------------------------------------------
def _too_large(size: int, limit: int, what: str) -> BodyTooLarge:
    return BodyTooLarge(
        _("The %(what)s is %(size)d bytes, over the limit of %(limit)d bytes.")
        % {"what": what, "size": size, "limit": limit},
        code="SNAPSHOT_BODY_TOO_LARGE",
    )


def check_body_size(size: int | None) -> None:
    """Refuse a request body by its declared size, before reading it."""
    limit = settings.SNAPSHOT_BATCH_MAX_BYTES
    if size is not None and size > limit:
        raise _too_large(size, limit, _("request"))


def is_array(raw: bytes) -> bool:
    return raw.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"["


def documents_from_body(raw: bytes) -> tuple[list[Any], bool]:
    """The parsed envelopes of a request body and whether it was a list; refusals stay in place.

    A single envelope is limited to `MAX_ENVELOPE_BYTES`, an array to `SNAPSHOT_BATCH_MAX_BYTES` and
    `SNAPSHOT_BATCH_MAX_ITEMS` items. Problems with the body as a whole raise; a strict-JSON refusal
    inside one item of an array becomes that item's `SnapshotRejected` in the returned list.
    """
    if not is_array(raw):
        if len(raw) > MAX_ENVELOPE_BYTES:
            raise _too_large(len(raw), MAX_ENVELOPE_BYTES, _("snapshot"))
        try:
            return [parse_json_strict(raw, max_bytes=MAX_ENVELOPE_BYTES, max_depth=MAX_ENVELOPE_DEPTH)], False
        except StrictJsonError as error:
            raise strict_json_rejection(
                error, max_bytes=MAX_ENVELOPE_BYTES, max_depth=MAX_ENVELOPE_DEPTH, size=len(raw)
            ) from None
    limit = settings.SNAPSHOT_BATCH_MAX_BYTES
    if len(raw) > limit:
        raise _too_large(len(raw), limit, _("request"))
    try:
        documents = parse_json_strict(raw, max_bytes=limit, max_depth=MAX_ENVELOPE_DEPTH + 1)
    except StrictJsonError as error:
        if error.code not in _ITEM_LEVEL_CODES:
            raise strict_json_rejection(
                error, max_bytes=limit, max_depth=MAX_ENVELOPE_DEPTH + 1, size=len(raw)
            ) from None
        items = split_array(raw)
        if items is None:
            raise strict_json_rejection(
                error, max_bytes=limit, max_depth=MAX_ENVELOPE_DEPTH + 1, size=len(raw)
            ) from None
        _check_count(len(items))
        return [parse_item(item) for item in items], True
    if not isinstance(documents, list):  # pragma: no cover - is_array saw a "["
        raise BatchInvalid(_("Send one envelope or a list of envelopes."))
    _check_count(len(documents))
    return documents, True


def _check_count(count: int) -> None:
    if count == 0:
        raise BatchInvalid(_("The list of snapshots is empty."), code="SNAPSHOT_BATCH_EMPTY")
    limit = settings.SNAPSHOT_BATCH_MAX_ITEMS
    if count > limit:
        raise BodyTooLarge(
            _("The request holds %(count)d snapshots; send at most %(limit)d per request.")
            % {"count": count, "limit": limit},
            code="SNAPSHOT_BATCH_TOO_LONG",
        )


def parse_item(raw: bytes) -> Any:
    """One envelope's bytes parsed strictly, or the `SnapshotRejected` saying why not."""
    try:
        return parse_json_strict(raw, max_bytes=MAX_ENVELOPE_BYTES, max_depth=MAX_ENVELOPE_DEPTH)
    except StrictJsonError as error:
        return strict_json_rejection(
            error, max_bytes=MAX_ENVELOPE_BYTES, max_depth=MAX_ENVELOPE_DEPTH, size=len(raw)
        )


class _Lenient(json.JSONDecoder):
    """Finds where each item of an array ends; values are thrown away, so nothing is refused here."""

    def __init__(self) -> None:
        super().__init__(
            parse_float=lambda text: 0,
            parse_int=lambda text: 0,
            parse_constant=lambda name: 0,
            object_pairs_hook=lambda pairs: None,
            strict=False,
        )


_LENIENT = _Lenient()
_WHITESPACE = " \t\r\n"


def split_array(raw: bytes) -> list[bytes] | None:
    """The raw bytes of each item of a JSON array, or None if the array itself is malformed."""
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return None
    position = len(text) - len(text.lstrip(_WHITESPACE))
    if text[position : position + 1] != "[":
        return None
    position += 1
    items: list[bytes] = []
    try:
        while True:
            while position < len(text) and text[position] in _WHITESPACE:
                position += 1
            if text[position : position + 1] == "]" and not items:
                position += 1
                break
            _value, end = _LENIENT.raw_decode(text, position)
            items.append(text[position:end].encode("utf-8"))
            position = end
            while position < len(text) and text[position] in _WHITESPACE:
                position += 1
            separator = text[position : position + 1]
            position += 1
            if separator == "]":
                break
            if separator != ",":
                return None
    except (json.JSONDecodeError, RecursionError):
        return None
    if text[position:].strip(_WHITESPACE):
        return None
    return items


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _public_key(pem: str) -> signing.PublicKey:
    return signing.load_public_key(pem)


def _key_refusal(key: DeviceKey, at: datetime) -> SnapshotRefused | None:
    """Why `key` could not sign at `at`, or None if it could (the rule of `key_valid_at`)."""
    if key_valid_at(key, at):
        return None
    when = at.isoformat().replace("+00:00", "Z")
    if at < key.valid_from:
        return SnapshotRefused(
            _("The key %(key)s… only became valid at %(start)s; the snapshot was captured at %(at)s.")
            % {"key": key.key_id[:16], "start": key.valid_from.isoformat(), "at": when},
            code="KEY_NOT_YET_VALID",
            field="payload.captured_at",
        )
    if key.valid_until is not None and at >= key.valid_until:
        return SnapshotRefused(
            _("The key %(key)s… was valid until %(end)s; the snapshot was captured at %(at)s.")
            % {"key": key.key_id[:16], "end": key.valid_until.isoformat(), "at": when},
            code="KEY_EXPIRED",
            field="payload.captured_at",
        )
    revoked = min(revocation.effective_at for revocation in key.revocations.all())
    return SnapshotRefused(
        _("The key %(key)s… was revoked at %(revoked)s; it signs nothing captured after that (%(at)s).")
        % {"key": key.key_id[:16], "revoked": revoked.isoformat(), "at": when},
        code="KEY_REVOKED",
        field="signature.key_id",
    )


@dataclass
class _Item:
    index: int
    envelope: SnapshotEnvelope
    canonical: bytes = b""
    payload_hash: str = ""
    battery: Battery | None = None
    key: DeviceKey | None = None
    row: Snapshot | None = None


@dataclass
class _Context:
    """Everything the batch's checks need from the database, loaded set-based."""

    organisation: Organisation
    now: datetime
    keys: dict[str, DeviceKey] = field(default_factory=dict)
    batteries: dict[str, Battery] = field(default_factory=dict)
    granted: set[int] = field(default_factory=set)
    stored_hashes: set[str] = field(default_factory=set)
    stored_sequences: set[tuple[int, str, int]] = field(default_factory=set)


def _load_context(items: Sequence[_Item], organisation: Organisation, now: datetime) -> _Context:
    context = _Context(organisation=organisation, now=now)
    key_ids = {item.envelope.signature.key_id for item in items}
    context.keys = {
        key.key_id: key
        for key in DeviceKey.objects.filter(key_id__in=key_ids).prefetch_related("revocations")
    }
    battery_codes = {codes.normalise(item.envelope.battery_code) for item in items}
    context.batteries = {
        battery.code: battery
        for battery in Battery.objects.filter(code__in=battery_codes).select_related("battery_model")
    }
    foreign = [
        battery.pk
        for battery in context.batteries.values()
        if organisation.pk not in (battery.oem_id, battery.current_custodian_id)
    ]
    if foreign:
        context.granted = set(
            AccessGrant.objects.live(now)
            .filter(battery_id__in=foreign, grantee=organisation)
            .values_list("battery_id", flat=True)
        )
    # Replays, of the payload or of the device's sequence number, in one query.
    hashes = {item.payload_hash for item in items}
    replayed = Q(payload_hash__in=hashes)
    sequenced = [item for item in items if item.envelope.sequence is not None]
    if sequenced and context.keys:
        replayed |= Q(
            device_key_id__in=[key.pk for key in context.keys.values()],
            device_id__in={item.envelope.device_id for item in sequenced},
            sequence__in={item.envelope.sequence for item in sequenced},
        )
    stored = Snapshot.objects.filter(replayed).order_by()
    for payload_hash, key_pk, device_id, sequence in stored.values_list(
        "payload_hash", "device_key_id", "device_id", "sequence"
    ):
        if payload_hash in hashes:
            context.stored_hashes.add(payload_hash)
        if sequence is not None:
            context.stored_sequences.add((key_pk, device_id, sequence))
    return context


def _check(
    item: _Item, context: _Context, seen_hashes: set[str], seen_sequences: set[tuple[int, str, int]]
) -> None:
    """Raise the first refusal that applies to one envelope (the order of the module docstring)."""
    envelope = item.envelope
    signature = envelope.signature
    key = context.keys.get(signature.key_id)
    if key is None:
        raise SnapshotRefused(
            _("No registered device key has the id %(key)s.") % {"key": signature.key_id},
            code="KEY_UNKNOWN",
            field="signature.key_id",
        )
    if key.purpose != DeviceKey.Purpose.BMS_DEVICE:
        raise SnapshotRefused(
            _("The key %(key)s… is registered for %(purpose)s, not for signing BMS snapshots.")
            % {"key": key.key_id[:16], "purpose": key.get_purpose_display()},
            code="KEY_PURPOSE",
            field="signature.key_id",
        )
    public_key = _public_key(key.public_key_pem)
    algorithm = signing.algorithm_of(public_key)
    if algorithm != signature.alg:
        raise SnapshotRefused(
            _("The signature says %(alg)s but the key %(key)s… is an %(actual)s key.")
            % {"alg": signature.alg, "key": key.key_id[:16], "actual": algorithm},
            code="SIGNATURE_ALG_MISMATCH",
            field="signature.alg",
        )
    if not signing.verify_signature(public_key, item.canonical, signature.value_bytes, alg=signature.alg):
        raise SnapshotRefused(
            _(
                "The signature does not verify over the RFC 8785 bytes of the payload: it was altered after "
                "signing, or signed by another key."
            ),
            code="SIGNATURE_INVALID",
            field="signature.value",
        )
    refusal = _key_refusal(key, envelope.captured_at)
    if refusal is not None:
        raise refusal
    if key.organisation_id != context.organisation.pk:
        raise SnapshotForbidden(
            _("The key %(key)s… belongs to another organisation; upload snapshots signed by your own keys.")
            % {"key": key.key_id[:16]},
            code="KEY_NOT_OWNED",
            field="signature.key_id",
        )
    item.key = key
    code = codes.normalise(envelope.battery_code)
    battery = context.batteries.get(code)
    if battery is None:
        raise SnapshotRefused(
            _("No battery is registered under %(code)s.") % {"code": code},
            code="BATTERY_UNKNOWN",
            field="payload.battery_code",
        )
    organisation = context.organisation
    if (
        organisation.pk not in (battery.oem_id, battery.current_custodian_id)
        and battery.pk not in context.granted
    ):
        raise SnapshotForbidden(
            _(
                "%(organisation)s may not report on %(code)s: only its OEM, its current custodian or an "
                "organisation the custodian granted access to may."
            )
            % {"organisation": organisation.name, "code": code},
            code="NOT_ALLOWED_TO_REPORT",
            field="payload.battery_code",
        )
    item.battery = battery
    captured_at = envelope.captured_at
    skew = settings.SNAPSHOT_CLOCK_SKEW
    if captured_at > context.now + skew:
        raise SnapshotRefused(
            _("payload.captured_at %(at)s is in the future (more than %(skew)d seconds ahead of %(now)s).")
            % {
                "at": captured_at.isoformat(),
                "skew": int(skew.total_seconds()),
                "now": context.now.isoformat(timespec="seconds"),
            },
            code="CAPTURED_IN_FUTURE",
            field="payload.captured_at",
        )
    if captured_at < earliest_capture(battery.production_date):
        raise SnapshotRefused(
            _("payload.captured_at %(at)s is before the battery was produced (%(date)s).")
            % {"at": captured_at.isoformat(), "date": battery.production_date.isoformat()},
            code="CAPTURED_BEFORE_PRODUCTION",
            field="payload.captured_at",
        )
    if item.payload_hash in context.stored_hashes or item.payload_hash in seen_hashes:
        raise SnapshotConflict(
            _("This snapshot is already stored (payload SHA-256 %(hash)s).") % {"hash": item.payload_hash},
            code="REPLAY",
            field="payload",
        )
    if envelope.sequence is not None:
        sequence_key = (key.pk, envelope.device_id, envelope.sequence)
        if sequence_key in context.stored_sequences or sequence_key in seen_sequences:
            raise SnapshotConflict(
                _("Device %(device)s already sent a snapshot numbered %(sequence)d.")
                % {"device": envelope.device_id, "sequence": envelope.sequence},
                code="REPLAY_SEQUENCE",
                field="payload.sequence",
            )
        seen_sequences.add(sequence_key)
    seen_hashes.add(item.payload_hash)


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _row(item: _Item, *, organisation: Organisation, user: Any, now: datetime) -> dict[str, Any]:
    """The column values (by attribute name) of the snapshot row for a checked item."""
    envelope = item.envelope
    cells = envelope.cell_voltages_v
    moments = [fault.at for fault in envelope.faults]
    thermal = []
    for event in envelope.thermal_events:
        moments.append(event.started_at)
        if event.ended_at is not None:
            moments.append(event.ended_at)
        thermal.append(
            {
                "started_at": _instant(event.started_at),
                "ended_at": None if event.ended_at is None else _instant(event.ended_at),
                "max_temp_c": event.max_temp_c,
                "kind": event.kind,
            }
        )
    box = seal(item.canonical, aad=snapshot_aad(item.payload_hash))
    return dict(
        battery_id=item.battery.pk,  # type: ignore[union-attr]  (set by _check)
        device_key_id=item.key.pk,  # type: ignore[union-attr]
        uploaded_by_id=organisation.pk,
        uploaded_by_user_id=getattr(user, "pk", None),
        device_id=envelope.device_id,
        sequence=envelope.sequence,
        captured_at=envelope.captured_at,
        received_at=now,
        soc_pct=envelope.soc_pct,
        soh_pct=envelope.soh_pct,
        cycle_count=envelope.cycle_count,
        throughput_kwh=envelope.throughput_kwh,
        pack_voltage_v=envelope.pack_voltage_v,
        cell_voltage_min_v=envelope.cell_voltage_min_v,
        cell_voltage_max_v=envelope.cell_voltage_max_v,
        cell_temp_min_c=envelope.cell_temp_min_c,
        cell_temp_max_c=envelope.cell_temp_max_c,
        insulation_resistance_kohm=envelope.insulation_resistance_kohm,
        cell_count=None if cells is None else len(cells),
        cell_voltage_sum_v=None if cells is None else round(sum(cells), 6),
        cells_fingerprint=None if cells is None else cells_fingerprint(cells),
        alarms=dict(envelope.alarms),
        soh_recalibrated=envelope.soh_recalibrated,
        latest_event_at=max(moments) if moments else None,
        fault_count=envelope.fault_count,
        max_fault_severity=max((fault.severity for fault in envelope.faults), default=None),
        faults=[
            {"code": fault.code, "at": _instant(fault.at), "severity": fault.severity}
            for fault in envelope.faults
        ],
        thermal_event_count=envelope.thermal_event_count,
        thermal_events=thermal,
        payload_hash=item.payload_hash,
        shape_hash=measurement_shape_hash(envelope),
        payload_size=len(item.canonical),
        signature_alg=envelope.signature.alg,
        signature_value=envelope.signature.value,
        payload_cipher=box.cipher,
        payload_kek_id=box.kek_id,
        payload_wrapped_key=box.wrapped_key,
        payload_wrap_nonce=box.wrap_nonce,
        payload_nonce=box.nonce,
        payload_ciphertext=box.ciphertext,
        retention_until=retention_until_for(envelope.captured_at),
    )


def _copy_rows(values: list[dict[str, Any]]) -> list[int]:
    """PostgreSQL: reserve ids from the table's sequence, then COPY the rows in (one statement each)."""
    from psycopg.types.json import Jsonb

    table = Snapshot._meta.db_table
    fields = [field for field in Snapshot._meta.concrete_fields if not field.primary_key]
    json_columns = {field.attname for field in fields if field.get_internal_type() == "JSONField"}
    names = ", ".join(f'"{field.column}"' for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(values)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(f'COPY "{table}" ("id", {names}) FROM STDIN') as copy:
            for snapshot_id, row in zip(ids, values, strict=True):
                copy.write_row(
                    [snapshot_id]
                    + [
                        Jsonb(row[field.attname]) if field.attname in json_columns else row.get(field.attname)
                        for field in fields
                    ]
                )
    return ids


def _insert(rows: list[tuple[_Item, dict[str, Any]]], results: list[ItemResult]) -> list[int | None]:
    """Insert the rows in one statement; on a concurrent duplicate, row by row in savepoints.

    Returns the new ids in order (None for a row refused as a duplicate). PostgreSQL takes the rows by
    COPY, other databases by `bulk_create`.
    """
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                return list(_copy_rows([values for _item, values in rows]))
            created = Snapshot.objects.bulk_create([Snapshot(**values) for _item, values in rows])
            return [snapshot.pk for snapshot in created]
    except IntegrityError:
        pass
    ids: list[int | None] = []
    for item, values in rows:
        snapshot = Snapshot(**values)
        try:
            with transaction.atomic():
                snapshot.save(force_insert=True)
        except IntegrityError:
            ids.append(None)
            same_payload = Snapshot.objects.filter(payload_hash=item.payload_hash).exists()
            results[item.index].error = SnapshotConflict(
                _("This snapshot was stored by another request a moment ago.")
                if same_payload
                else _("Device %(device)s already sent a snapshot numbered %(sequence)s.")
                % {"device": item.envelope.device_id, "sequence": item.envelope.sequence},
                code="REPLAY" if same_payload else "REPLAY_SEQUENCE",
                field="payload" if same_payload else "payload.sequence",
            )
            continue
        ids.append(snapshot.pk)
    return ids


def _refused(index: int, error: DomainError) -> ItemResult:
    return ItemResult(index=index, status=REFUSED, error=error)


def ingest_documents(
    documents: Sequence[Any],
    *,
    organisation: Organisation | None,
    user: Any = None,
) -> list[ItemResult]:
    """Check, seal and store parsed envelopes (a `SnapshotRejected` in the list stays refused).

    Returns one result per document, in order. Nothing is stored for a refused item; the stored ones
    are written in one transaction together with the re-evaluated flags of their batteries.
    """
    if organisation is None:
        raise SnapshotForbidden(
            _("You do not belong to an organisation, so you cannot report snapshots."), code="NO_ORGANISATION"
        )
    now = timezone.now()
    results = [ItemResult(index=index) for index in range(len(documents))]
    items: list[_Item] = []
    for index, document in enumerate(documents):
        if isinstance(document, DomainError):
            results[index].error = document
            continue
        try:
            envelope = validate_envelope(document)
            canonical = canonicalize(envelope.payload)
        except SnapshotRejected as error:
            results[index].error = error
            continue
        except (
            CanonicalizationError
        ) as error:  # pragma: no cover - the schema admits only canonicalisable values
            results[index].error = SnapshotRejected("SCHEMA_TYPE", error.message, error.path or None)
            continue
        if len(canonical) > MAX_ENVELOPE_BYTES:
            results[index].error = SnapshotRejected(
                "TOO_LARGE",
                _("The payload is %(size)d bytes, over the limit of %(limit)d bytes.")
                % {"size": len(canonical), "limit": MAX_ENVELOPE_BYTES},
                "payload",
            )
            continue
        results[index].battery_code = codes.normalise(envelope.battery_code)
        items.append(
            _Item(index=index, envelope=envelope, canonical=canonical, payload_hash=sha256_hex(canonical))
        )
    if not items:
        return results

    context = _load_context(items, organisation, now)
    seen_hashes: set[str] = set()
    seen_sequences: set[tuple[int, str, int]] = set()
    rows: list[tuple[_Item, dict[str, Any]]] = []
    for item in items:
        try:
            _check(item, context, seen_hashes, seen_sequences)
        except DomainError as error:
            results[item.index].error = error
            continue
        rows.append((item, _row(item, organisation=organisation, user=user, now=now)))
    if not rows:
        return results

    with transaction.atomic():
        ids = _insert(rows, results)
        stored = [values for (_item, values), snapshot_id in zip(rows, ids, strict=True) if snapshot_id]
        evaluation.reevaluate_after_insert(
            battery_ids={values["battery_id"] for values in stored},
            shape_hashes={values["shape_hash"] for values in stored},
        )
    for (item, _values), snapshot_id in zip(rows, ids, strict=True):
        if snapshot_id is not None:
            result = results[item.index]
            result.status = STORED
            result.snapshot_id = snapshot_id
            result.payload_hash = item.payload_hash
    return results


def ingest_body(
    raw: bytes, *, organisation: Organisation | None, user: Any = None
) -> tuple[list[ItemResult], bool]:
    """Parse a request body (limits first) and ingest it; returns the results and whether it was a list."""
    documents, as_list = documents_from_body(raw)
    return ingest_documents(documents, organisation=organisation, user=user), as_list


def chunked(values: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
