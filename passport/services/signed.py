"""OEM-signed registration records: the OEM's registration key vouches for the battery's origin.

A record is `{"format": "voltrace.registration/1", "payload": {...}, "signature": {"alg", "key_id",
"value"}}`; the signature covers the RFC 8785 canonical bytes of `payload` and must come from a
`registration` key of the organisation holding the code's manufacturer segment, valid at the
payload's `signed_at`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.models import User
from core import signing
from core.canonical import CanonicalizationError, canonicalize
from core.errors import DomainError, InvalidInput
from passport.errors import SignatureError
from passport.models import Battery, DeviceKey
from passport.selectors import key_valid_at
from passport.services.registration import (
    CHANNEL_SIGNED,
    MAX_BATCH,
    Problem,
    RegistrationRequest,
    commit_plans,
    plan_registrations,
    raise_first,
    record_clone_attempts,
    registrant_of,
)

REGISTRATION_FORMAT = "voltrace.registration/1"
RECORD_KEYS = {"format", "payload", "signature"}
PAYLOAD_FIELDS = {"code", "model", "production_date", "parent_code", "original_code", "signed_at"}
SIGNATURE_KEYS = {"alg", "key_id", "value"}
SIGNING_SKEW = timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------------
def _record_error(message: str, code: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=code, field=field)


def verify_registration_record(
    record: Any, *, keys: dict[str, DeviceKey], now: datetime | None = None
) -> RegistrationRequest:
    """Check a signed registration record's shape, key and signature; return what it asks to register."""
    now = now or timezone.now()
    if not isinstance(record, dict) or set(record) != RECORD_KEYS:
        raise _record_error(
            _("A signed record has exactly the members format, payload and signature."),
            "RECORD_FORMAT",
            "record",
        )
    if record["format"] != REGISTRATION_FORMAT:
        raise _record_error(
            _("The record format must be %(format)s.") % {"format": REGISTRATION_FORMAT},
            "RECORD_FORMAT",
            "format",
        )
    payload, signature = record["payload"], record["signature"]
    if not isinstance(payload, dict):
        raise _record_error(_("The payload must be an object."), "RECORD_FORMAT", "payload")
    unknown = sorted(set(payload) - PAYLOAD_FIELDS)
    if unknown:
        raise _record_error(
            _("The payload has an unknown field %(field)s.") % {"field": unknown[0]},
            "UNKNOWN_FIELD",
            f"payload.{unknown[0]}",
        )
    for name in PAYLOAD_FIELDS & set(payload):
        if not isinstance(payload[name], str):
            raise _record_error(
                _("%(field)s must be a string.") % {"field": name}, "INVALID_INPUT", f"payload.{name}"
            )
    for name in ("code", "signed_at"):
        if not payload.get(name):
            raise _record_error(
                _("The payload needs %(field)s.") % {"field": name}, "REQUIRED", f"payload.{name}"
            )
    if (
        not isinstance(signature, dict)
        or set(signature) != SIGNATURE_KEYS
        or not all(isinstance(value, str) for value in signature.values())
    ):
        raise _record_error(
            _("The signature has exactly the string members alg, key_id and value."),
            "RECORD_FORMAT",
            "signature",
        )
    signed_at = parse_datetime(payload["signed_at"])
    if signed_at is None or signed_at.tzinfo is None:
        raise _record_error(
            _("signed_at must be an ISO 8601 time with a time zone, e.g. 2026-05-01T08:00:00Z."),
            "INVALID_TIME",
            "payload.signed_at",
        )
    if signed_at > now + SIGNING_SKEW:
        raise _record_error(_("signed_at is in the future."), "SIGNED_IN_FUTURE", "payload.signed_at")
    key = keys.get(signature["key_id"])
    if key is None:
        raise SignatureError(
            _("No registered key has the id %(key_id)s.") % {"key_id": signature["key_id"][:64]},
            code="KEY_UNKNOWN",
            field="signature.key_id",
        )
    if key.purpose != DeviceKey.Purpose.REGISTRATION:
        raise SignatureError(
            _("Key %(key_id)s is registered for %(purpose)s, not for signing registrations.")
            % {"key_id": key.key_id[:16], "purpose": key.get_purpose_display()},
            code="KEY_PURPOSE",
            field="signature.key_id",
        )
    if signature["alg"] != key.algorithm:
        raise SignatureError(
            _("Key %(key_id)s signs with %(expected)s, not %(given)s.")
            % {"key_id": key.key_id[:16], "expected": key.algorithm, "given": signature["alg"]},
            code="SIGNATURE_ALGORITHM",
            field="signature.alg",
        )
    if not key_valid_at(key, signed_at):
        raise SignatureError(
            _("Key %(key_id)s was not valid at %(at)s (outside its validity window, or revoked).")
            % {"key_id": key.key_id[:16], "at": signed_at.isoformat()},
            code="KEY_NOT_VALID",
            field="signature.key_id",
        )
    try:
        signature_bytes = base64.b64decode(signature["value"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(_("The signature value is not base64."), field="signature.value") from None
    try:
        message = canonicalize(payload)
    except CanonicalizationError as exc:
        raise _record_error(str(exc), "RECORD_PAYLOAD", "payload") from None
    public_key = signing.load_public_key(key.public_key_pem)
    if not signing.verify_signature(public_key, message, signature_bytes, alg=signature["alg"]):
        raise SignatureError(
            _(
                "The signature does not match the payload: "
                "it was not made by this key, or the payload changed."
            ),
            field="signature.value",
        )
    return RegistrationRequest(
        code=payload["code"],
        model=payload.get("model", ""),
        production_date=payload.get("production_date") or None,
        parent_code=payload.get("parent_code", ""),
        original_code=payload.get("original_code", ""),
        registration_key=key,
        record=record,
        field_prefix="payload.",
    )


def register_signed_records(*, records: Sequence[Any], by: User, as_list: bool = False) -> list[Battery]:
    """Register batteries from records signed with their OEM's registration key (origin verified)."""
    organisation = registrant_of(by)
    if not records:
        raise InvalidInput(_("Send at least one record."), code="EMPTY_REQUEST")
    if len(records) > MAX_BATCH:
        raise InvalidInput(
            _("Send at most %(limit)d records per request.") % {"limit": MAX_BATCH}, code="TOO_MANY_ITEMS"
        )
    key_ids = {
        record["signature"]["key_id"]
        for record in records
        if isinstance(record, dict)
        and isinstance(record.get("signature"), dict)
        and isinstance(record["signature"].get("key_id"), str)
    }
    keys = {
        key.key_id: key
        for key in DeviceKey.objects.filter(key_id__in=key_ids)
        .select_related("organisation")
        .prefetch_related("revocations")
    }
    now = timezone.now()
    requests: list[RegistrationRequest] = []
    for index, record in enumerate(records):
        try:
            requests.append(verify_registration_record(record, keys=keys, now=now))
        except DomainError as error:
            raise_first([Problem(index=index, field=error.field or "record", error=error)], as_list=as_list)
    outcome = plan_registrations(requests=requests, organisation=organisation)
    if outcome.existing:
        record_clone_attempts(
            batteries=outcome.existing, organisation=organisation, user=by, channel=CHANNEL_SIGNED
        )
    if outcome.problems:
        raise_first(outcome.problems, as_list=as_list)
    return commit_plans(plans=outcome.plans, organisation=organisation, user=by, channel=CHANNEL_SIGNED)


def sign_registration_payload(payload: dict[str, Any], private_key: signing.PrivateKey) -> dict[str, Any]:
    """Wrap a payload into a signed registration record (what an OEM's signing tool produces)."""
    return {
        "format": REGISTRATION_FORMAT,
        "payload": payload,
        "signature": {
            "alg": signing.algorithm_of(private_key),
            "key_id": signing.key_id(private_key),
            "value": base64.b64encode(signing.sign(private_key, canonicalize(payload))).decode("ascii"),
        },
    }
