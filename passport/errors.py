"""The passport's domain errors, each with a stable code the API and the pages report."""

from __future__ import annotations

from core.errors import Conflict, DomainError, InvalidInput
from passport.codes import CodeError

__all__ = [
    "CodeError",
    "DeviceKeyConflict",
    "DuplicateCode",
    "GrantError",
    "InvalidDeviceKey",
    "RegistrationError",
    "SignatureError",
]


class RegistrationError(DomainError):
    """A registration that breaks a rule (manufacturer mismatch, unknown model, bad parent...)."""

    status_code = 422
    default_code = "REGISTRATION_REFUSED"


class DuplicateCode(Conflict):
    """The code is already registered: a second registration may be a cloned label."""

    default_code = "DUPLICATE_CODE"


class SignatureError(DomainError):
    """A signed registration record whose key or signature does not hold."""

    status_code = 422
    default_code = "SIGNATURE_INVALID"


class InvalidDeviceKey(InvalidInput):
    """A public key that cannot be read or used."""

    default_code = "KEY_MALFORMED"


class DeviceKeyConflict(Conflict):
    """The key is already registered."""

    default_code = "KEY_ALREADY_REGISTERED"


class GrantError(DomainError):
    """An access grant that breaks a rule."""

    status_code = 422
    default_code = "GRANT_REFUSED"
