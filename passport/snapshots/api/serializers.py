"""Output serializers of the snapshot API (inputs live beside their views)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from passport.snapshots.models import (
    Certification,
    LabDesignation,
    LabDesignationWithdrawal,
    LegalHold,
    LegalHoldEvent,
    Snapshot,
    SnapshotFlag,
)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "SnapshotItemError"  # "ErrorBody" is the API-wide error envelope's component


class IngestItemOutputSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the envelope in the request (0-based).")
    status = serializers.ChoiceField(choices=["stored", "refused"])
    snapshot_id = serializers.IntegerField(required=False, help_text="When stored.")
    payload_hash = serializers.CharField(
        required=False, help_text="When stored: SHA-256 of the RFC 8785 payload."
    )
    battery_code = serializers.CharField(required=False)
    error = ErrorBodySerializer(required=False, help_text="When refused: the stable code, message and field.")
    http_status = serializers.IntegerField(
        required=False, help_text="When refused: the status alone it would get."
    )


class IngestBatchOutputSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = IngestItemOutputSerializer(many=True)


class SnapshotFlagOutputSerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)

    class Meta:
        model = SnapshotFlag
        fields = ["rule_id", "severity", "title", "message", "details", "evaluated_at"]


class SnapshotOutputSerializer(serializers.ModelSerializer):
    """A snapshot's metadata as the legitimate-interest tier sees it (never the sealed payload)."""

    battery = serializers.CharField(source="battery.code")
    key_id = serializers.CharField(source="device_key.key_id")
    uploaded_by = serializers.CharField(source="uploaded_by.name")
    signature = serializers.SerializerMethodField()
    flags = SnapshotFlagOutputSerializer(many=True, read_only=True)
    shredded = serializers.BooleanField(source="is_shredded", read_only=True)

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "battery",
            "captured_at",
            "received_at",
            "device_id",
            "sequence",
            "key_id",
            "uploaded_by",
            "soc_pct",
            "soh_pct",
            "cycle_count",
            "throughput_kwh",
            "pack_voltage_v",
            "cell_voltage_min_v",
            "cell_voltage_max_v",
            "cell_temp_min_c",
            "cell_temp_max_c",
            "insulation_resistance_kohm",
            "cell_count",
            "alarms",
            "soh_recalibrated",
            "fault_count",
            "max_fault_severity",
            "faults",
            "thermal_event_count",
            "thermal_events",
            "payload_hash",
            "payload_size",
            "signature",
            "retention_until",
            "shredded",
            "shredded_at",
            "flags",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "alg": {"type": "string"},
                "key_id": {"type": "string"},
                "value": {"type": "string"},
            },
        }
    )
    def get_signature(self, snapshot: Snapshot) -> dict[str, Any]:
        return {
            "alg": snapshot.signature_alg,
            "key_id": snapshot.device_key.key_id,
            "value": snapshot.signature_value,
        }


class SnapshotSummaryOutputSerializer(serializers.Serializer):
    """What every tier sees of a battery's BMS history: counts only."""

    snapshot_count = serializers.IntegerField()
    first_captured_at = serializers.DateTimeField(allow_null=True)
    last_captured_at = serializers.DateTimeField(allow_null=True)
    flag_counts = serializers.DictField(child=serializers.IntegerField())
    thermal_event_count = serializers.IntegerField()
    certification_count = serializers.IntegerField()


class RawTelemetryOutputSerializer(serializers.Serializer):
    snapshot_id = serializers.IntegerField()
    battery = serializers.CharField()
    payload_hash = serializers.CharField()
    signature_valid = serializers.BooleanField(
        help_text="The stored signature re-verified over the decrypted bytes."
    )
    payload = serializers.DictField(help_text="The payload exactly as signed, vehicle block included.")
    access_id = serializers.IntegerField(help_text="The access-log row recording this read.")


class CertificationOutputSerializer(serializers.ModelSerializer):
    lab = serializers.CharField(source="lab.name")
    battery = serializers.CharField(source="battery.code")
    key_id = serializers.CharField(source="key.key_id")
    snapshot_id = serializers.IntegerField(source="snapshot.pk", allow_null=True, default=None)
    designation_reference = serializers.CharField(source="designation.reference")

    class Meta:
        model = Certification
        fields = [
            "id",
            "lab",
            "battery",
            "snapshot_id",
            "grading_reference",
            "result",
            "tested_at",
            "key_id",
            "designation_reference",
            "statement",
            "statement_hash",
            "signature_alg",
            "signature_value",
            "recorded_at",
        ]


class LabDesignationWithdrawalOutputSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.name")

    class Meta:
        model = LabDesignationWithdrawal
        fields = ["effective_at", "reason", "organisation", "recorded_at"]


class LabDesignationOutputSerializer(serializers.ModelSerializer):
    lab = serializers.CharField(source="lab.name")
    lab_id = serializers.IntegerField(source="lab.pk")
    designated_by = serializers.CharField(source="designated_by.name")
    withdrawals = LabDesignationWithdrawalOutputSerializer(many=True, read_only=True)

    class Meta:
        model = LabDesignation
        fields = [
            "id",
            "lab",
            "lab_id",
            "valid_from",
            "valid_until",
            "reference",
            "scope",
            "designated_by",
            "recorded_at",
            "withdrawals",
        ]


class LegalHoldEventOutputSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.name")
    actor = serializers.CharField(source="actor.username")

    class Meta:
        model = LegalHoldEvent
        fields = ["action", "reason", "organisation", "actor", "at"]


class LegalHoldOutputSerializer(serializers.ModelSerializer):
    battery = serializers.CharField(source="battery.code")
    snapshot_id = serializers.IntegerField(source="snapshot.pk", allow_null=True, default=None)
    placed_by = serializers.CharField(source="placed_by.name")
    active = serializers.BooleanField(source="is_active", read_only=True)
    events = LegalHoldEventOutputSerializer(many=True, read_only=True)

    class Meta:
        model = LegalHold
        fields = [
            "id",
            "battery",
            "snapshot_id",
            "reason",
            "reference",
            "placed_by",
            "placed_at",
            "active",
            "lifted_at",
            "lift_reason",
            "events",
        ]


class RetentionYearOutputSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    count = serializers.IntegerField()
    earliest = serializers.DateTimeField()
    latest = serializers.DateTimeField()


class RetentionReportOutputSerializer(serializers.Serializer):
    organisation = serializers.CharField(source="organisation.name", allow_null=True, default=None)
    generated_at = serializers.DateTimeField()
    total = serializers.IntegerField(help_text="Snapshots reported by the organisation or of its batteries.")
    sealed = serializers.IntegerField(help_text="Payloads still sealed (retained).")
    shredded = serializers.IntegerField(help_text="Payloads crypto-shredded after retention.")
    shredded_late = serializers.IntegerField(help_text="Shredded more than 48 hours after retention ended.")
    overdue = serializers.IntegerField(
        help_text="Expired for more than 48 hours, not held, not shredded yet."
    )
    held_snapshots = serializers.IntegerField(help_text="Snapshots an active legal hold covers.")
    by_year = RetentionYearOutputSerializer(many=True, help_text="Sealed payloads by the year they may go.")
    holds = LegalHoldOutputSerializer(many=True)
