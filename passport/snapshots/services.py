"""Snapshot writes and the one read of raw telemetry: legal holds, lab designations, certifications,
key rotation, and `read_raw_telemetry`, the only place a sealed payload is ever opened.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, User
from core import signing
from core.canonical import canonicalize, sha256_hex
from core.envelope import DecryptionError, SealedBox, keyring, open_box, rewrap
from core.errors import Conflict, DomainError, InvalidInput, NotPermitted
from crossborder import gate
from crossborder.errors import CrossBorderRefused
from crossborder.models import DataClass
from passport import access, codes
from passport.attributes import AUTHORITY
from passport.models import Battery, DeviceKey
from passport.selectors import forget_public_page, key_valid_at
from passport.snapshots import evaluation
from passport.snapshots.errors import CertificationRefused, HoldError, TelemetryRefused
from passport.snapshots.models import (
    Certification,
    LabDesignation,
    LabDesignationWithdrawal,
    LegalHold,
    LegalHoldEvent,
    Snapshot,
    TelemetryAccessLog,
)
from passport.snapshots.schema import _base64, _moment
from passport.snapshots.selectors import lab_designated_at

PURPOSE_MIN_LENGTH = 10
PURPOSE_MAX_LENGTH = 1000
REASON_MAX_LENGTH = 2000


def _reason(text: str, *, field: str = "reason") -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("Say why."), code="REASON_REQUIRED", field=field)
    if len(text) > REASON_MAX_LENGTH:
        raise InvalidInput(
            _("Keep the reason under %(limit)d characters.") % {"limit": REASON_MAX_LENGTH},
            code="REASON_TOO_LONG",
            field=field,
        )
    return text


def _organisation_of(user: Any) -> Organisation | None:
    return getattr(user, "organisation", None) if user is not None and user.is_authenticated else None


# ---------------------------------------------------------------------------------------------------
# Raw telemetry: the only decryption, always logged
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawTelemetry:
    """A snapshot's payload as signed, decrypted for an authority, with its signature re-checked."""

    snapshot: Snapshot
    payload: dict[str, Any]
    signature_valid: bool
    access: TelemetryAccessLog


def read_raw_telemetry(
    *, user: User, snapshot: Snapshot, purpose: str, channel: str = "api_read"
) -> RawTelemetry:
    """Decrypt a snapshot's whole payload (vehicle block included) for an auditor or regulator.

    Every call writes a `TelemetryAccessLog` row, refusals included (with the reason), committed even
    when the read is refused. Only members of an auditor or regulator organisation whose tier for the
    battery is "authority" (its jurisdiction) may read; a platform administrator outside such an
    organisation may not. A reader outside the data's jurisdiction (`access.data_jurisdiction_of`, the
    custodian's country: e.g. a regulator of the OEM's country abroad) also needs the cross-border
    gate's approval for telemetry and personal data; `channel` names the path in the export log.
    Call it outside transaction.atomic (the gate requires it for its log).
    """
    purpose = (purpose or "").strip()
    organisation = _organisation_of(user)
    battery = snapshot.battery
    tier = access.tier_for(battery, user)
    refusal: DomainError | None = None
    if len(purpose) < PURPOSE_MIN_LENGTH or len(purpose) > PURPOSE_MAX_LENGTH:
        refusal = InvalidInput(
            _("Say why you read this telemetry (%(min)d to %(max)d characters); the reason is logged.")
            % {"min": PURPOSE_MIN_LENGTH, "max": PURPOSE_MAX_LENGTH},
            code="PURPOSE_REQUIRED",
            field="purpose",
        )
    elif organisation is None or not organisation.is_authority or tier != AUTHORITY:
        refusal = TelemetryRefused(
            _(
                "Raw telemetry is read only by auditors and regulators of the battery's jurisdiction "
                "(%(countries)s)."
            )
            % {"countries": ", ".join(sorted(access.jurisdictions_of(battery)))},
            code="TELEMETRY_NOT_PERMITTED",
        )
    elif snapshot.is_shredded:
        refusal = Conflict(
            _("This snapshot's payload was crypto-shredded on %(date)s after its retention period.")
            % {"date": f"{snapshot.shredded_at:%Y-%m-%d}"},
            code="PAYLOAD_SHREDDED",
        )
    elif organisation.country != access.data_jurisdiction_of(battery):
        try:
            gate.authorise(
                user=user,
                recipient=organisation,
                holder=battery.current_custodian,
                data_classes=[DataClass.TELEMETRY, DataClass.PERSONAL],  # the payload has the vehicle block
                data_jurisdiction=access.data_jurisdiction_of(battery),
                channel=channel,
                subject=f"{battery.code} snapshot {snapshot.payload_hash[:16]}",
                purpose=purpose,
            )
        except CrossBorderRefused as error:
            refusal = error
    payload: dict[str, Any] | None = None
    canonical = b""
    if refusal is None:
        try:
            canonical = open_box(SealedBox.from_fields(snapshot, "payload_"), aad=snapshot.aad)
            payload = json.loads(canonical)
        except DecryptionError as error:
            refusal = error
    log = _log_access(
        snapshot=snapshot, user=user, organisation=organisation, purpose=purpose, tier=tier, refusal=refusal
    )
    if refusal is not None:
        raise refusal
    assert payload is not None  # noqa: S101 - set whenever there is no refusal
    key = snapshot.device_key
    signature_valid = signing.verify_signature(
        signing.load_public_key(key.public_key_pem),
        canonical,
        base64.b64decode(snapshot.signature_value),
        alg=snapshot.signature_alg,
    )
    return RawTelemetry(snapshot=snapshot, payload=payload, signature_valid=signature_valid, access=log)


def _log_access(
    *,
    snapshot: Snapshot,
    user: Any,
    organisation: Organisation | None,
    purpose: str,
    tier: str,
    refusal: DomainError | None,
) -> TelemetryAccessLog:
    # Written before the refusal is raised: callers run this outside a transaction (views do), so the
    # row is committed even though the read fails.
    return TelemetryAccessLog.objects.create(
        snapshot=snapshot,
        user=user if getattr(user, "pk", None) else None,
        organisation=organisation,
        purpose=purpose[:PURPOSE_MAX_LENGTH] or "-",
        tier=tier,
        outcome=TelemetryAccessLog.Outcome.GRANTED if refusal is None else TelemetryAccessLog.Outcome.REFUSED,
        refusal_code="" if refusal is None else refusal.code,
        refusal_reason="" if refusal is None else str(refusal.message),
    )


# ---------------------------------------------------------------------------------------------------
# Legal holds
# ---------------------------------------------------------------------------------------------------
def _authority_for(battery: Battery, by: User) -> Organisation:
    organisation = _organisation_of(by)
    if organisation is None or not organisation.is_authority or access.tier_for(battery, by) != AUTHORITY:
        raise NotPermitted(
            _("Only auditors and regulators of the battery's jurisdiction place or lift legal holds."),
            code="HOLD_NOT_PERMITTED",
        )
    return organisation


@transaction.atomic
def place_legal_hold(
    *, battery: Battery, by: User, reason: str, snapshot: Snapshot | None = None, reference: str = ""
) -> LegalHold:
    """Hold a battery's snapshots (or one) so that nothing of them is destroyed until the hold is lifted."""
    organisation = _authority_for(battery, by)
    reason = _reason(reason)
    if snapshot is not None and snapshot.battery_id != battery.pk:
        raise HoldError(
            _("That snapshot belongs to another battery."), code="HOLD_WRONG_BATTERY", field="snapshot"
        )
    if snapshot is not None and snapshot.is_shredded:
        raise HoldError(
            _("That snapshot's payload was already crypto-shredded."), code="HOLD_SHREDDED", field="snapshot"
        )
    hold = LegalHold.objects.create(
        battery=battery,
        snapshot=snapshot,
        reason=reason,
        reference=reference.strip()[:100],
        placed_by=organisation,
        placed_by_user=by,
    )
    LegalHoldEvent.objects.create(
        hold=hold, action=LegalHoldEvent.Action.PLACED, reason=reason, organisation=organisation, actor=by
    )
    return hold


@transaction.atomic
def lift_legal_hold(*, hold: LegalHold, by: User, reason: str) -> LegalHold:
    """End a legal hold; its history keeps who placed and lifted it, and why."""
    hold = LegalHold.objects.select_for_update().select_related("battery").get(pk=hold.pk)
    organisation = _authority_for(hold.battery, by)
    reason = _reason(reason)
    if hold.lifted_at is not None:
        raise Conflict(_("This legal hold was already lifted."), code="HOLD_ALREADY_LIFTED")
    hold.lifted_at = timezone.now()
    hold.lifted_by_user = by
    hold.lift_reason = reason
    hold.save(update_fields=["lifted_at", "lifted_by_user", "lift_reason"])
    LegalHoldEvent.objects.create(
        hold=hold, action=LegalHoldEvent.Action.LIFTED, reason=reason, organisation=organisation, actor=by
    )
    return hold


# ---------------------------------------------------------------------------------------------------
# Lab designations
# ---------------------------------------------------------------------------------------------------
def _regulator(by: User) -> Organisation:
    organisation = _organisation_of(by)
    if organisation is None or organisation.kind != Organisation.Kind.REGULATOR:
        raise NotPermitted(
            _("Only regulators designate evaluation institutions."), code="DESIGNATION_NOT_PERMITTED"
        )
    return organisation


@transaction.atomic
def designate_lab(
    *,
    lab: Organisation,
    by: User,
    valid_from: datetime,
    valid_until: datetime | None = None,
    reference: str = "",
    scope: str = "",
) -> LabDesignation:
    """Record a regulator's designation of a test lab for a period (append-only)."""
    organisation = _regulator(by)
    if lab.kind != Organisation.Kind.TEST_LAB:
        raise InvalidInput(
            _("%(name)s is not an evaluation institution.") % {"name": lab.name}, code="LAB_KIND", field="lab"
        )
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidInput(
            _("The designation must end after it starts."), code="DESIGNATION_WINDOW", field="valid_until"
        )
    return LabDesignation.objects.create(
        lab=lab,
        valid_from=valid_from,
        valid_until=valid_until,
        reference=reference.strip()[:100],
        scope=scope.strip(),
        designated_by=organisation,
        designated_by_user=by,
    )


@transaction.atomic
def withdraw_lab_designation(
    *, designation: LabDesignation, by: User, reason: str, effective_at: datetime | None = None
) -> LabDesignationWithdrawal:
    """Withdraw a designation from `effective_at` on (default now); earlier certifications stand."""
    organisation = _regulator(by)
    reason = _reason(reason)
    moment = effective_at or timezone.now()
    moment = max(moment, designation.valid_from)
    return LabDesignationWithdrawal.objects.create(
        designation=designation, effective_at=moment, reason=reason, organisation=organisation, actor=by
    )


# ---------------------------------------------------------------------------------------------------
# Certifications
# ---------------------------------------------------------------------------------------------------
CERTIFICATION_FORMAT = "voltrace.certification/1"
_STATEMENT_FIELDS = frozenset(
    {"battery_code", "snapshot_payload_hash", "grading_reference", "result", "tested_at"}
)
_HEX64 = frozenset("0123456789abcdef")


def sign_certification(statement: dict[str, Any], private_key: signing.PrivateKey) -> dict[str, Any]:
    """A certification document: the statement and a signature over its RFC 8785 bytes."""
    value = signing.sign(private_key, canonicalize(statement))
    return {
        "format": CERTIFICATION_FORMAT,
        "statement": statement,
        "signature": {
            "alg": signing.algorithm_of(private_key),
            "key_id": signing.key_id(private_key),
            "value": base64.b64encode(value).decode("ascii"),
        },
    }


def _cert_schema(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code="CERTIFICATION_SCHEMA", field=field)


def _text_field(statement: dict[str, Any], name: str, max_length: int, *, required: bool) -> str | None:
    value = statement.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length or not value.isprintable():
        raise _cert_schema(
            _("statement.%(name)s must be printable text of 1 to %(max)d characters.")
            % {"name": name, "max": max_length},
            f"statement.{name}",
        )
    return value


@dataclass(frozen=True)
class _Statement:
    battery_code: str
    snapshot_payload_hash: str | None
    grading_reference: str | None
    result: str
    tested_at: datetime


def _parse_certification(document: Any) -> tuple[_Statement, dict[str, Any], str, str, bytes]:
    if not isinstance(document, dict) or set(document) != {"format", "statement", "signature"}:
        raise _cert_schema(_("Send an object with exactly format, statement and signature."), "")
    if document["format"] != CERTIFICATION_FORMAT:
        raise _cert_schema(_("format must be %(format)s.") % {"format": CERTIFICATION_FORMAT}, "format")
    statement = document["statement"]
    if not isinstance(statement, dict):
        raise _cert_schema(_("statement must be an object."), "statement")
    unknown = sorted(set(statement) - _STATEMENT_FIELDS)
    if unknown:
        raise _cert_schema(
            _("statement.%(name)s is not a field of a certification.") % {"name": unknown[0]},
            f"statement.{unknown[0]}",
        )
    battery_code = _text_field(statement, "battery_code", 40, required=True)
    snapshot_hash = _text_field(statement, "snapshot_payload_hash", 64, required=False)
    if snapshot_hash is not None and (len(snapshot_hash) != 64 or not set(snapshot_hash) <= _HEX64):
        raise _cert_schema(
            _("statement.snapshot_payload_hash must be 64 lowercase hexadecimal digits."),
            "statement.snapshot_payload_hash",
        )
    grading = _text_field(statement, "grading_reference", 128, required=False)
    if (snapshot_hash is None) == (grading is None):
        raise _cert_schema(
            _(
                "A statement certifies either a snapshot (snapshot_payload_hash) or a grading "
                "(grading_reference)."
            ),
            "statement",
        )
    result = _text_field(statement, "result", 200, required=True)
    tested_text = statement.get("tested_at")
    tested_at = _moment(tested_text) if isinstance(tested_text, str) else None
    if tested_at is None:
        raise _cert_schema(
            _("statement.tested_at must be an RFC 3339 timestamp such as 2026-05-01T08:00:00Z."),
            "statement.tested_at",
        )
    signature = document["signature"]
    if not isinstance(signature, dict) or set(signature) != {"alg", "key_id", "value"}:
        raise _cert_schema(_("signature must have exactly alg, key_id and value."), "signature")
    alg, key_id, value = signature["alg"], signature["key_id"], signature["value"]
    if alg not in signing.ALGORITHMS:
        raise _cert_schema(
            _("signature.alg must be one of %(choices)s.") % {"choices": ", ".join(signing.ALGORITHMS)},
            "signature.alg",
        )
    if not isinstance(key_id, str) or len(key_id) != 64 or not set(key_id) <= _HEX64:
        raise _cert_schema(_("signature.key_id must be 64 lowercase hexadecimal digits."), "signature.key_id")
    raw = _base64(value) if isinstance(value, str) and len(value) <= 100 else None
    if raw is None:
        raise _cert_schema(_("signature.value must be standard base64."), "signature.value")
    parsed = _Statement(battery_code, snapshot_hash, grading, result, tested_at)
    return parsed, statement, alg, key_id, raw


@transaction.atomic
def record_certification(*, document: Any, by: User) -> Certification:
    """Record a designated lab's signed statement on a snapshot or a grading result of a battery."""
    statement, raw_statement, alg, key_id, signature = _parse_certification(document)
    lab = _organisation_of(by)
    if lab is None or lab.kind != Organisation.Kind.TEST_LAB:
        raise NotPermitted(_("Only evaluation institutions record certifications."), code="CERT_NOT_A_LAB")
    key = DeviceKey.objects.filter(key_id=key_id).prefetch_related("revocations").first()
    if key is None:
        raise CertificationRefused(
            _("No registered key has the id %(key)s.") % {"key": key_id},
            code="KEY_UNKNOWN",
            field="signature.key_id",
        )
    if key.purpose != DeviceKey.Purpose.CERTIFICATION:
        raise CertificationRefused(
            _("The key %(key)s… is not a certification key.") % {"key": key_id[:16]},
            code="KEY_PURPOSE",
            field="signature.key_id",
        )
    if key.organisation_id != lab.pk:
        raise NotPermitted(
            _("The key %(key)s… belongs to another organisation.") % {"key": key_id[:16]},
            code="KEY_NOT_OWNED",
            field="signature.key_id",
        )
    public_key = signing.load_public_key(key.public_key_pem)
    if signing.algorithm_of(public_key) != alg:
        raise CertificationRefused(
            _("The signature says %(alg)s but the key is an %(actual)s key.")
            % {"alg": alg, "actual": signing.algorithm_of(public_key)},
            code="SIGNATURE_ALG_MISMATCH",
            field="signature.alg",
        )
    canonical = canonicalize(raw_statement)
    if not signing.verify_signature(public_key, canonical, signature, alg=alg):
        raise CertificationRefused(
            _("The signature does not verify over the RFC 8785 bytes of the statement."),
            code="SIGNATURE_INVALID",
            field="signature.value",
        )
    tested_at = statement.tested_at
    if tested_at > timezone.now() + settings.SNAPSHOT_CLOCK_SKEW:
        raise CertificationRefused(
            _("statement.tested_at is in the future."),
            code="CERT_TESTED_IN_FUTURE",
            field="statement.tested_at",
        )
    if not key_valid_at(key, tested_at):
        raise CertificationRefused(
            _("The key %(key)s… was not valid (expired, revoked or not yet valid) at the test date.")
            % {"key": key_id[:16]},
            code="KEY_NOT_VALID_AT_TEST",
            field="statement.tested_at",
        )
    designation = lab_designated_at(lab, tested_at)
    if designation is None:
        raise CertificationRefused(
            _("%(lab)s was not a designated evaluation institution on %(date)s.")
            % {"lab": lab.name, "date": f"{tested_at:%Y-%m-%d}"},
            code="CERT_LAB_NOT_DESIGNATED",
            field="statement.tested_at",
        )
    battery_code = codes.normalise(statement.battery_code)
    battery = Battery.objects.select_related("oem", "current_custodian").filter(code=battery_code).first()
    if battery is None:
        raise CertificationRefused(
            _("No battery is registered under %(code)s.") % {"code": battery_code},
            code="BATTERY_UNKNOWN",
            field="statement.battery_code",
        )
    if not access.has_legitimate_interest(battery, lab):
        raise NotPermitted(
            _("%(lab)s has no access to %(code)s; its custodian grants access to the lab that tests it.")
            % {"lab": lab.name, "code": battery_code},
            code="CERT_NOT_ALLOWED",
            field="statement.battery_code",
        )
    snapshot = None
    if statement.snapshot_payload_hash is not None:
        snapshot = Snapshot.objects.filter(payload_hash=statement.snapshot_payload_hash).first()
        if snapshot is None:
            raise CertificationRefused(
                _("No stored snapshot has that payload hash."),
                code="CERT_SUBJECT_UNKNOWN",
                field="statement.snapshot_payload_hash",
            )
        if snapshot.battery_id != battery.pk:
            raise CertificationRefused(
                _("The snapshot belongs to another battery than statement.battery_code."),
                code="CERT_SUBJECT_MISMATCH",
                field="statement.snapshot_payload_hash",
            )
    statement_hash = sha256_hex(canonical)
    if Certification.objects.filter(statement_hash=statement_hash).exists():
        raise Conflict(_("This certification is already recorded."), code="CERT_REPLAY")
    try:
        with transaction.atomic():
            certification = Certification.objects.create(
                lab=lab,
                key=key,
                designation=designation,
                battery=battery,
                snapshot=snapshot,
                grading_reference=statement.grading_reference or "",
                result=statement.result,
                tested_at=tested_at,
                statement=raw_statement,
                statement_hash=statement_hash,
                signature_alg=alg,
                signature_value=document["signature"]["value"],
                recorded_by_user=by,
            )
    except IntegrityError:
        raise Conflict(_("This certification is already recorded."), code="CERT_REPLAY") from None
    evaluation.refresh_summaries([battery.pk])
    transaction.on_commit(lambda: forget_public_page(battery.code))
    return certification


# ---------------------------------------------------------------------------------------------------
# Key rotation
# ---------------------------------------------------------------------------------------------------
def rotate_keys(
    *, batch_size: int = 500, progress: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Re-wrap every sealed payload's data key under the current key-encryption key, in batches.

    Resumable and idempotent: each batch is its own transaction over rows, in id order, still wrapped
    by another key; rows already re-wrapped are skipped, so an interrupted run is simply run again.
    Safe while ingest runs: new rows are sealed under the current key already, and the rows of a batch
    are locked so that the retention job cannot shred one half-way. The ciphertext is never touched.
    """
    if batch_size < 1:
        raise InvalidInput(_("The batch size must be at least 1."), field="batch_size")
    ring = keyring()
    current = ring.current_id
    counts: dict[str, Any] = {"current_kek": current, "rotated": 0, "batches": 0, "last_id": 0}
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                Snapshot.objects.select_for_update()
                .filter(pk__gt=last_id, shredded_at__isnull=True)
                .exclude(payload_kek_id=current)
                .order_by("pk")
                .only(
                    "pk",
                    "payload_hash",
                    "payload_cipher",
                    "payload_kek_id",
                    "payload_wrapped_key",
                    "payload_wrap_nonce",
                    "payload_nonce",
                )[:batch_size]
            )
            if not rows:
                break
            for row in rows:
                box = SealedBox(
                    cipher=row.payload_cipher,
                    kek_id=row.payload_kek_id,
                    wrapped_key=bytes(row.payload_wrapped_key),
                    wrap_nonce=bytes(row.payload_wrap_nonce),
                    nonce=bytes(row.payload_nonce),
                    ciphertext=b"",  # rewrap never reads it
                )
                rewrapped = rewrap(box, aad=row.aad, ring=ring)
                row.payload_kek_id = rewrapped.kek_id
                row.payload_wrapped_key = rewrapped.wrapped_key
                row.payload_wrap_nonce = rewrapped.wrap_nonce
            Snapshot.objects.bulk_update(
                rows, ["payload_kek_id", "payload_wrapped_key", "payload_wrap_nonce"]
            )
        last_id = rows[-1].pk
        counts["rotated"] += len(rows)
        counts["batches"] += 1
        counts["last_id"] = last_id
        if progress is not None:
            progress(dict(counts))
    counts["remaining_other_keys"] = (
        Snapshot.objects.filter(shredded_at__isnull=True).exclude(payload_kek_id=current).count()
    )
    return counts
