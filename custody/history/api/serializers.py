"""Output serializers of the history-request API (inputs are nested in their views)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from custody.history.models import HistoryDelivery, HistoryRequest, HistoryRequestEvent


class HistoryPartySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    country = serializers.CharField()


class HistoryRequestEventOutputSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.name")

    class Meta:
        model = HistoryRequestEvent
        fields = ["kind", "organisation", "at", "reason", "code"]


class HistoryDeliveryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = HistoryDelivery
        fields = [
            "delivered_at",
            "as_of",
            "snapshot_count",
            "payload_sha256",
            "key_id",
            "data_jurisdiction",
            "recipient_country",
            "cross_border",
        ]


class HistoryRefusalSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    code = serializers.CharField(help_text="E.g. CROSS_BORDER_NOT_APPROVED.")
    reason = serializers.CharField()


class HistoryRequestOutputSerializer(serializers.ModelSerializer):
    """A history request as its parties see it, with its event log and deliveries."""

    battery = serializers.CharField(source="battery.code")
    requester = HistoryPartySerializer()
    custodian = HistoryPartySerializer(help_text="The custodian asked (the battery's custodian at the time).")
    role = serializers.SerializerMethodField()
    last_refusal = serializers.SerializerMethodField()
    events = HistoryRequestEventOutputSerializer(many=True, read_only=True)
    deliveries = HistoryDeliveryOutputSerializer(many=True, read_only=True)

    class Meta:
        model = HistoryRequest
        fields = [
            "id",
            "battery",
            "requester",
            "custodian",
            "role",
            "purpose",
            "status",
            "created_at",
            "decided_at",
            "decision_reason",
            "delivered_at",
            "last_refusal",
            "events",
            "deliveries",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["requester", "custodian", "observer"]))
    def get_role(self, request: HistoryRequest) -> str:
        user = self.context["request"].user if "request" in self.context else None
        organisation = getattr(user, "organisation", None)
        if organisation is not None and organisation.pk == request.requester_id:
            return "requester"
        if organisation is not None and organisation.pk == request.battery.current_custodian_id:
            return "custodian"
        return "observer"

    @extend_schema_field(HistoryRefusalSerializer(allow_null=True))
    def get_last_refusal(self, request: HistoryRequest) -> dict[str, Any] | None:
        if request.refused_at is None:
            return None
        return {"at": request.refused_at, "code": request.refusal_code, "reason": request.refusal_reason}
