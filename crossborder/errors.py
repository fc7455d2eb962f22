"""The refusals of the export gate and of the release scanner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import DomainError, NotPermitted

if TYPE_CHECKING:
    from crossborder.models import ExportLogEntry


class CrossBorderRefused(NotPermitted):
    """Telemetry or personal data may not go to this recipient abroad: no matching approval in force.

    Codes: CROSS_BORDER_NOT_APPROVED (no approval for the recipient), CROSS_BORDER_APPROVAL_EXPIRED
    (one matched but has lapsed, was revoked or is not yet valid), CROSS_BORDER_APPROVAL_MISMATCH (an
    approval for the recipient exists but not for these data classes, this destination or this holder).
    `entry` is the refusal's export log row, already committed.
    """

    default_code = "CROSS_BORDER_NOT_APPROVED"

    def __init__(self, message: Any, *, code: str | None = None, entry: ExportLogEntry | None = None) -> None:
        super().__init__(message, code=code)
        self.entry = entry


class ExportBlocked(DomainError):
    """The release scan found an identifier in an export (EXPORT_BLOCKED_IDENTIFIER) or could not read
    it (EXPORT_SCAN_FAILED): nothing is released. `entry` is the committed export log row."""

    status_code = 422
    default_code = "EXPORT_BLOCKED_IDENTIFIER"

    def __init__(self, message: Any, *, code: str | None = None, entry: ExportLogEntry | None = None) -> None:
        super().__init__(message, code=code)
        self.entry = entry


class GateMisuse(RuntimeError):
    """A programming error: the gate was called inside a transaction, where its log could be lost."""
