"""Output serializers of the cross-border API (inputs are nested in their views)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crossborder.models import ApprovalRevocation, ExportLogEntry, TransferApproval


class ApprovalPartySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    country = serializers.CharField()


class ApprovalRevocationOutputSerializer(serializers.ModelSerializer):
    by_organisation = serializers.CharField(source="by_organisation.name", allow_null=True, default=None)

    class Meta:
        model = ApprovalRevocation
        fields = ["reason", "at", "by_organisation"]


class TransferApprovalOutputSerializer(serializers.ModelSerializer):
    """An approval with its status now (pending, in_force, expired, revoked) and its revocation if any."""

    holder = ApprovalPartySerializer()
    recipient = ApprovalPartySerializer()
    data_classes = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=TransferApproval.Status.choices)
    recorded_by = serializers.CharField(source="recorded_by.username", allow_null=True, default=None)
    recorded_by_organisation = serializers.CharField(
        source="recorded_by_organisation.name", allow_null=True, default=None
    )
    revocation = serializers.SerializerMethodField()

    class Meta:
        model = TransferApproval
        fields = [
            "id",
            "holder",
            "recipient",
            "destination_country",
            "data_classes",
            "basis",
            "reference",
            "valid_from",
            "valid_until",
            "notes",
            "status",
            "recorded_by",
            "recorded_by_organisation",
            "recorded_at",
            "revocation",
        ]

    @extend_schema_field(ApprovalRevocationOutputSerializer(allow_null=True))
    def get_revocation(self, approval: TransferApproval) -> dict[str, Any] | None:
        revocation = approval.revocation_or_none()
        return ApprovalRevocationOutputSerializer(revocation).data if revocation else None


class ApprovalReferenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()


class ExportScanSummarySerializer(serializers.Serializer):
    bytes = serializers.IntegerField(required=False)
    hits = serializers.IntegerField(required=False)
    kinds = serializers.DictField(child=serializers.IntegerField(), required=False)
    locations = serializers.ListField(child=serializers.DictField(), required=False)
    truncated = serializers.BooleanField(required=False)
    error = serializers.CharField(required=False)


class ExportLogEntryOutputSerializer(serializers.ModelSerializer):
    """One gate decision or release scan. `scan` holds counts and locations only, never values."""

    user = serializers.CharField(source="user.username", allow_null=True, default=None)
    organisation = ApprovalPartySerializer(allow_null=True)
    holder = ApprovalPartySerializer(allow_null=True)
    recipient = ApprovalPartySerializer(allow_null=True)
    data_classes = serializers.ListField(child=serializers.CharField())
    approval = ApprovalReferenceSerializer(allow_null=True)
    scan = ExportScanSummarySerializer()

    class Meta:
        model = ExportLogEntry
        fields = [
            "id",
            "at",
            "user",
            "organisation",
            "holder",
            "recipient",
            "destination_country",
            "data_jurisdiction",
            "data_classes",
            "channel",
            "subject",
            "purpose",
            "outcome",
            "approval",
            "code",
            "message",
            "scanned",
            "scan",
        ]
