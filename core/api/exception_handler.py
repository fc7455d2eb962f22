"""The one API exception handler: every error leaves as {"error": {"code", "message", "field"}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import DomainError


def _first_error(detail: Any, prefix: str = "") -> tuple[str | None, str, str]:
    """Walk a DRF error detail to its first leaf: (field path, message, code)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = key if key != "non_field_errors" else None
            path = f"{prefix}.{field}" if prefix and field else (field or prefix or None)
            inner_field, message, code = _first_error(value, path or "")
            return inner_field or path, message, code
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict):
                return _first_error(value, f"{prefix}[{index}]" if prefix else f"[{index}]")
            return _first_error(value, prefix)
    code = getattr(detail, "code", None) or "invalid"
    return (prefix or None), str(detail), str(code)


def error_body(*, code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    body.update(extra)
    return {"error": body}


def domain_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"error": exc.as_dict()}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message, code = _first_error(exc.detail)
        response.data = error_body(
            code="INVALID_INPUT", message=message, field=field, details=exc.detail, reason=code
        )
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    codes = {
        exceptions.NotAuthenticated: "NOT_AUTHENTICATED",
        exceptions.AuthenticationFailed: "AUTHENTICATION_FAILED",
        exceptions.PermissionDenied: "NOT_PERMITTED",
        exceptions.NotFound: "NOT_FOUND",
        exceptions.MethodNotAllowed: "METHOD_NOT_ALLOWED",
        exceptions.NotAcceptable: "NOT_ACCEPTABLE",
        exceptions.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
        exceptions.Throttled: "THROTTLED",
        exceptions.ParseError: "MALFORMED_REQUEST",
    }
    code = next((value for kind, value in codes.items() if isinstance(exc, kind)), "ERROR")
    detail = exc.detail if isinstance(exc, exceptions.APIException) else _("Error.")
    response.data = error_body(code=code, message=str(detail))
    return response
