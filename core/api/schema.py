"""OpenAPI helpers: the error envelope and the responses each endpoint documents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(
                    help_text="Stable machine-readable code, e.g. LICENCE_EXPIRED."
                ),
                "message": serializers.CharField(help_text="Human-readable, translated message."),
                "field": serializers.CharField(allow_null=True, help_text="The input field at fault."),
            },
        )
    },
)

_DESCRIPTIONS = {
    400: "Malformed input; `field` names what is wrong.",
    401: "Not authenticated.",
    403: "Not permitted for this user or organisation.",
    404: "Not found or not visible to this user.",
    409: "Conflicts with the current state (duplicate, replay, concurrent change).",
    413: "Request too large.",
    422: "A business rule refused the request; `code` says which.",
    429: "Too many requests.",
}


_INVALID_PAGE = "No such page: `page` is past the last one (code NOT_FOUND)."


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of an endpoint (401 and 429 are always included)."""
    wanted = sorted({401, 429, *statuses})
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_DESCRIPTIONS[code]) for code in wanted
    }


class VoltraceAutoSchema(AutoSchema):
    """Names nested serializers after their view (TokenCreateApi.InputSerializer -> TokenCreateInput),
    and documents the 400 of a bad filter or page parameter and the 404 of a page past a list's last.

    House style nests `InputSerializer`/`OutputSerializer` inside each API view; without this every one
    of them would claim the component name "Input" and the schema would silently merge them.
    """

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if self.method != "GET":
            return responses
        filtered = getattr(self.view, "filterset_class", None) or getattr(self.view, "filterset_fields", None)
        paginated = self._is_list_view() and self._get_paginator() is not None
        if (filtered or paginated) and "400" not in responses:  # a bad filter value, page or page_size
            bad_query = OpenApiResponse(response=ErrorSerializer, description=_DESCRIPTIONS[400])
            responses["400"] = self._get_response_for_code(bad_query, "400", direction=direction)
        if paginated and "404" not in responses:
            missing_page = OpenApiResponse(response=ErrorSerializer, description=_INVALID_PAGE)
            responses["404"] = self._get_response_for_code(missing_page, "404", direction=direction)
        return responses

    def get_serializer_name(self, serializer: serializers.BaseSerializer, direction: str) -> str:
        cls = serializer if isinstance(serializer, type) else type(serializer)
        outer, _, inner = cls.__qualname__.rpartition(".")
        if not outer or "<locals>" in outer:
            return super().get_serializer_name(serializer, direction)
        view = outer.split(".")[-1].removesuffix("Api").removesuffix("View")
        return f"{view}{inner}"
