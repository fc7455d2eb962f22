"""Custody's domain errors, each with a stable code the API and the pages report."""

from __future__ import annotations

from core.errors import Conflict, DomainError, InvalidInput, NotFound, NotPermitted

__all__ = [
    "ChainConflict",
    "CustodyError",
    "IdempotencyKeyReused",
    "IllegalTransition",
    "MassBalanceError",
    "NotCustodian",
    "SubjectNotFound",
    "TransferError",
]


class CustodyError(DomainError):
    """A custody rule refused the step; `code` says which."""

    status_code = 422
    default_code = "CUSTODY_REFUSED"


class IllegalTransition(CustodyError):
    """The subject's status does not allow this step (no intake of a recycled battery, ...)."""

    default_code = "ILLEGAL_TRANSITION"


class MassBalanceError(CustodyError):
    """Outputs plus declared losses do not equal the inputs, to the gram."""

    default_code = "MASS_BALANCE"


class TransferError(CustodyError):
    """A transfer rule refused the request (to oneself, ...)."""

    default_code = "TRANSFER_REFUSED"


class SubjectNotFound(NotFound):
    """No battery or lot with that code (or none the caller may act on)."""

    default_code = "NOT_FOUND"


class NotCustodian(NotPermitted):
    """The battery or lot is held by another organisation."""

    default_code = "NOT_CUSTODIAN"


class IdempotencyKeyReused(Conflict):
    """The idempotency key was already used for a different request."""

    default_code = "IDEMPOTENCY_KEY_REUSED"


class ChainConflict(Conflict):
    """A concurrent change of the same subject won; retry."""

    default_code = "CHAIN_CONFLICT"


class CustodyInvalidInput(InvalidInput):
    """Malformed custody input (masses, dates, codes)."""
