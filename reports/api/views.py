"""Reports API: request a report, follow its progress, cancel it, download its files.

A report is built in the background: POST answers 201 at once with the report `pending`; poll
GET /api/v1/reports/{id}/ for `status` and `percent`, then download the file and its signed manifest.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import ErrorSerializer, error_responses
from core.errors import NotFound
from core.params import IdField
from reports import selectors, services
from reports.api.serializers import ReportOutputSerializer
from reports.formats.registry import FORMATS
from reports.models import Report

TAGS = ["reports"]
GONE = {
    410: OpenApiResponse(response=ErrorSerializer, description="The report's files expired (REPORT_EXPIRED).")
}


def _report(request: Request, pk: int) -> Report:
    report = selectors.reports_for(request.user).filter(pk=pk).first()
    if report is None:
        raise NotFound(_("No report %(id)s that you may see.") % {"id": pk}, code="REPORT_NOT_FOUND")
    return report


class ReportListApi(ListAPIView):
    """Your organisation's reports, newest first; filter by `status` and `format`. POST requests one."""

    serializer_class = ReportOutputSerializer

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=list(FORMATS), help_text="pdf, csv, bundle or epcis.")
        title = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        battery_codes = serializers.ListField(
            child=serializers.CharField(max_length=200), required=False, default=list
        )
        lot_codes = serializers.ListField(
            child=serializers.CharField(max_length=40), required=False, default=list
        )
        facility = IdField(
            required=False, allow_null=True, help_text="A facility id: subjects with events there."
        )
        organisation = IdField(
            required=False, allow_null=True, help_text="An organisation id: subjects it acted on."
        )
        date_from = serializers.DateTimeField(
            required=False, allow_null=True, help_text="Events that occurred at or after this instant."
        )
        date_to = serializers.DateTimeField(
            required=False, allow_null=True, help_text="Events that occurred before this instant."
        )
        anonymised = serializers.BooleanField(required=False, default=False)
        language = serializers.ChoiceField(choices=["en", "zh-hans"], required=False, default="en")
        purpose = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)

    def get_queryset(self) -> Any:
        reports = selectors.reports_for(self.request.user).defer("manifest")
        status = self.request.query_params.get("status")
        if status in Report.Status.values:
            reports = reports.filter(status=status)
        wanted_format = self.request.query_params.get("format")
        if wanted_format in Report.Format.values:
            reports = reports.filter(format=wanted_format)
        return reports

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "summary": True}

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("status", str, enum=Report.Status.values),
            OpenApiParameter("format", str, enum=Report.Format.values),
        ],
        responses={200: ReportOutputSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: ReportOutputSerializer, **error_responses(400, 403, 404, 422)},
        description=(
            "Queue a report. Errors: 400 UNKNOWN_FORMAT, FORMAT_UNAVAILABLE, NOT_ANONYMISABLE, "
            "UNKNOWN_LANGUAGE, BAD_DATE_RANGE; 403 NOT_A_MEMBER, or the cross-border gate's refusal; "
            "404 BATTERY_NOT_FOUND, LOT_NOT_FOUND, FACILITY_NOT_FOUND, ORGANISATION_NOT_FOUND (a named "
            "item you may not see; nothing is created); 422 REPORT_EMPTY, REPORT_TOO_LARGE (the count and "
            "the limit are named)."
        ),
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = services.request_report(user=request.user, **body.validated_data)
        report = selectors.reports_for(request.user).get(pk=report.pk)
        return Response(ReportOutputSerializer(report).data, status=201)


class ReportDetailApi(RetrieveAPIView):
    """A report's status, percent done, counters, files, signed manifest and links."""

    serializer_class = ReportOutputSerializer

    def get_queryset(self) -> Any:
        return selectors.reports_for(self.request.user)

    @extend_schema(tags=TAGS, responses={200: ReportOutputSerializer, **error_responses(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ReportCancelApi(APIView):
    """Cancel a report: a waiting one at once, a running one at its next progress step."""

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: ReportOutputSerializer, **error_responses(404, 409)},
        description="Errors: 409 REPORT_FINISHED. Cancelling a cancelled report again answers 200.",
    )
    def post(self, request: Request, pk: int) -> Response:
        report = services.cancel_report(report=_report(request, pk), user=request.user)
        return Response(ReportOutputSerializer(selectors.reports_for(request.user).get(pk=report.pk)).data)


# Each format's media type (a bundle's manifest.json and every other JSON file share application/json).
DOWNLOAD_TYPES = {
    (200, spec.content_type.split(";")[0]): OpenApiResponse(
        response=OpenApiTypes.BINARY, description=f"A file of a {spec.name} report, or its manifest (JSON)."
    )
    for spec in FORMATS.values()
}


class ReportDownloadApi(APIView):
    """Download a file of a finished report (default: the report itself); every download is logged."""

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("file", str, description="A file name from `files` (e.g. manifest.json)."),
            OpenApiParameter("purpose", str, description="Why you download it (kept in the log)."),
        ],
        responses={
            **DOWNLOAD_TYPES,
            **error_responses(403, 404, 409),
            **GONE,
        },
        description="Errors: 403 CROSS_BORDER_NOT_APPROVED / CROSS_BORDER_APPROVAL_EXPIRED / "
        "CROSS_BORDER_APPROVAL_MISMATCH (a file with telemetry or personal data, downloaded from abroad, "
        "needs an approval in force at download time); 404 FILE_NOT_FOUND; 409 REPORT_NOT_READY; "
        "410 REPORT_EXPIRED.",
    )
    def get(self, request: Request, pk: int) -> FileResponse:
        report = _report(request, pk)
        file, handle = services.open_download(
            report=report,
            user=request.user,
            name=request.query_params.get("file") or None,
            channel="api",
            purpose=request.query_params.get("purpose", ""),
        )
        return FileResponse(handle, as_attachment=True, filename=file.name, content_type=file.content_type)
