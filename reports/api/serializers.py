"""Output serializers of the reports API (inputs are nested in their views)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from reports.models import Report, ReportFile

LISTED = 100  # codes of a scope shown in API answers


class ReportFileOutputSerializer(serializers.ModelSerializer):
    """A file of a built report: download it from `url`; check it against `sha256` and the manifest."""

    url = serializers.SerializerMethodField()

    class Meta:
        model = ReportFile
        fields = ["name", "kind", "size", "sha256", "content_type", "url"]

    def get_url(self, file: ReportFile) -> str:
        return reverse("reports-api:report-download", args=[file.report_id]) + f"?file={file.name}"


class ReportOutputSerializer(serializers.ModelSerializer):
    """A report: what was asked, how far building it got, its files and signed manifest, its links."""

    requested_by = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    scope = serializers.SerializerMethodField(
        help_text=f"The scope as requested, with the resolved counts; code lists show their first {LISTED} "
        "codes (the manifest holds them all)."
    )
    manifest = serializers.SerializerMethodField(
        help_text="The signed manifest (voltrace.report-manifest/1) once the report is done; null in lists "
        "(read it in the report's detail or download manifest.json)."
    )

    class Meta:
        model = Report
        fields = [
            "id",
            "title",
            "format",
            "status",
            "percent",
            "done_count",
            "total_count",
            "subject_count",
            "unit_count",
            "anonymised",
            "language",
            "purpose",
            "scope",
            "requested_by",
            "cancel_requested",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "files",
            "manifest",
            "links",
        ]

    @extend_schema_field(serializers.JSONField())
    def get_scope(self, report: Report) -> dict[str, Any]:
        scope = dict(report.scope)
        for name in ("battery_codes", "lot_codes"):
            if len(scope.get(name) or []) > LISTED:
                scope[name] = scope[name][:LISTED]
                scope[f"{name}_truncated"] = True
        return scope

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_manifest(self, report: Report) -> dict[str, Any] | None:
        if self.context.get("summary"):
            return None
        return report.manifest

    def get_requested_by(self, report: Report) -> str | None:
        return report.requested_by.get_username() if report.requested_by else None

    @extend_schema_field(
        inline_serializer(
            name="ReportError",
            fields={"code": serializers.CharField(), "message": serializers.CharField()},
            allow_null=True,
        )
    )
    def get_error(self, report: Report) -> dict[str, str] | None:
        if not report.error_code:
            return None
        return {"code": report.error_code, "message": report.error_message}

    @extend_schema_field(ReportFileOutputSerializer(many=True))
    def get_files(self, report: Report) -> list[dict[str, Any]]:
        if report.status != Report.Status.SUCCEEDED:
            return []
        return ReportFileOutputSerializer(report.files.all(), many=True).data

    @extend_schema_field(
        inline_serializer(
            name="ReportLinks",
            fields={
                "self": serializers.CharField(),
                "web": serializers.CharField(),
                "cancel": serializers.CharField(allow_null=True),
                "download": serializers.CharField(allow_null=True),
                "manifest": serializers.CharField(allow_null=True),
            },
        )
    )
    def get_links(self, report: Report) -> dict[str, str | None]:
        ready = report.status == Report.Status.SUCCEEDED
        download = reverse("reports-api:report-download", args=[report.pk])
        return {
            "self": reverse("reports-api:report-detail", args=[report.pk]),
            "web": reverse("reports:detail", args=[report.pk]),
            "cancel": reverse("reports-api:report-cancel", args=[report.pk]) if report.can_cancel else None,
            "download": download if ready else None,
            "manifest": f"{download}?file=manifest.json" if ready else None,
        }
