"""Errors of the transparency log, each with a stable code."""

from __future__ import annotations

from core.errors import DomainError


class LogError(DomainError):
    """A request the log refuses: a size beyond the tree, an invalid signature, an inconsistent view."""

    status_code = 422
    default_code = "LOG_ERROR"
