"""The domain error family: services raise these, one API handler maps them to HTTP."""

from __future__ import annotations

from django.utils.functional import Promise


class DomainError(Exception):
    """A broken business rule, with a stable machine code and a translated message."""

    status_code = 422
    default_code = "DOMAIN_ERROR"

    def __init__(self, message: str | Promise, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": str(self.message), "field": self.field}


class InvalidInput(DomainError):
    """The request is malformed or a value is out of range."""

    status_code = 400
    default_code = "INVALID_INPUT"


class NotPermitted(DomainError):
    """The actor may not do this."""

    status_code = 403
    default_code = "NOT_PERMITTED"


class NotFound(DomainError):
    """The object does not exist or is not visible to the actor."""

    status_code = 404
    default_code = "NOT_FOUND"


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, concurrent change, replay)."""

    status_code = 409
    default_code = "CONFLICT"


class AppendOnlyViolation(DomainError):
    """An attempt to update or delete a row of an append-only table."""

    status_code = 409
    default_code = "APPEND_ONLY"
