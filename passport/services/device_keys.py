"""Registering and revoking public keys: BMS devices, OEM registration signers, lab certifiers."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, User
from core import signing
from core.errors import InvalidInput, NotPermitted
from passport.errors import DeviceKeyConflict, InvalidDeviceKey
from passport.models import DeviceKey, DeviceKeyRevocation

# Which organisation kinds may hold keys of a purpose (BMS devices: anyone who tests batteries).
PURPOSE_KINDS: dict[str, set[str] | None] = {
    DeviceKey.Purpose.BMS_DEVICE: None,
    DeviceKey.Purpose.REGISTRATION: {Organisation.Kind.OEM},
    DeviceKey.Purpose.CERTIFICATION: {Organisation.Kind.TEST_LAB},
}


@transaction.atomic
def register_device_key(
    *,
    organisation: Organisation,
    by: User | None,
    public_key: str,
    purpose: str,
    device_serial: str = "",
    facility: object | None = None,
    label: str = "",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> DeviceKey:
    """Register a public key (PEM or raw base64) for an organisation; its id is SHA-256 of the raw key."""
    if by is not None and not (
        by.is_superuser or (by.has_perm("passport.register_device_key") and by.organisation == organisation)
    ):
        raise NotPermitted(_("Only your organisation's administrators register its keys."))
    if purpose not in DeviceKey.Purpose.values:
        raise InvalidInput(
            _("Unknown key purpose %(value)r; expected one of %(allowed)s.")
            % {"value": purpose, "allowed": ", ".join(DeviceKey.Purpose.values)},
            field="purpose",
        )
    allowed_kinds = PURPOSE_KINDS[purpose]
    if allowed_kinds is not None and organisation.kind not in allowed_kinds:
        raise InvalidInput(
            _("A %(kind)s cannot hold keys for %(purpose)s.")
            % {"kind": organisation.get_kind_display(), "purpose": DeviceKey.Purpose(purpose).label},
            code="KEY_PURPOSE_NOT_ALLOWED",
            field="purpose",
        )
    try:
        key = signing.load_public_key(public_key)
    except signing.KeyFormatError as exc:
        raise InvalidDeviceKey(
            _("The public key cannot be used: %(reason)s") % {"reason": str(exc)}, field="public_key"
        ) from None
    key_id = signing.key_id(key)
    if DeviceKey.objects.filter(key_id=key_id).exists():
        raise DeviceKeyConflict(
            _("This public key is already registered (key id %(key_id)s).") % {"key_id": key_id},
            field="public_key",
        )
    if facility is not None and getattr(facility, "organisation_id", None) != organisation.pk:
        raise InvalidInput(_("The facility belongs to another organisation."), field="facility")
    start = valid_from or timezone.now()
    if valid_until is not None and valid_until <= start:
        raise InvalidInput(
            _("The key must be valid until a time after it becomes valid."), field="valid_until"
        )
    return DeviceKey.objects.create(
        key_id=key_id,
        algorithm=signing.algorithm_of(key),
        public_key_pem=signing.public_key_pem(key),
        organisation=organisation,
        facility=facility,
        device_serial=device_serial.strip(),
        purpose=purpose,
        label=label.strip(),
        valid_from=start,
        valid_until=valid_until,
        registered_by=by,
    )


@transaction.atomic
def revoke_device_key(
    *, key: DeviceKey, by: User | None, reason: str, effective_at: datetime | None = None
) -> DeviceKeyRevocation:
    """Revoke a key from `effective_at` on (may be in the past: what it signed since then is refused)."""
    if by is not None and not by.has_perm("passport.revoke_device_key", key):
        raise NotPermitted(_("Only the key owner's administrators revoke its keys."))
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the key is revoked."), field="reason")
    moment = effective_at or timezone.now()
    if moment < key.valid_from:
        moment = key.valid_from  # a revocation before the key existed means "never valid"
    return DeviceKeyRevocation.objects.create(key=key, effective_at=moment, reason=reason, actor=by)
