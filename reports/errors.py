"""Errors of the reports app (the codes are part of the API contract; see the README's Reports section)."""

from __future__ import annotations

from core.errors import DomainError, NotFound


class ReportTooLarge(DomainError):
    """The scope holds more subjects than REPORT_MAX_SUBJECTS."""

    status_code = 422
    default_code = "REPORT_TOO_LARGE"


class ReportEmpty(DomainError):
    """The scope names nothing, or nothing the requester may see."""

    status_code = 422
    default_code = "REPORT_EMPTY"


class ScopeNotVisible(NotFound):
    """The scope names a battery, lot, facility or organisation the requester may not see (or none such)."""

    default_code = "SCOPE_NOT_VISIBLE"


class ReportNotReady(DomainError):
    """The report has no files to download (still running, failed or cancelled)."""

    status_code = 409
    default_code = "REPORT_NOT_READY"


class ReportExpired(DomainError):
    """The report's files were deleted when it expired."""

    status_code = 410
    default_code = "REPORT_EXPIRED"
