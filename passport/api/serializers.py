"""Output serializers of the passport API (inputs live beside their views)."""

from __future__ import annotations

from rest_framework import serializers

from passport.models import (
    AccessGrant,
    Battery,
    BatteryModel,
    DeviceKey,
    DeviceKeyRevocation,
    ManufacturerCode,
)


class ManufacturerCodeOutputSerializer(serializers.ModelSerializer):
    oem = serializers.CharField(source="oem.name")

    class Meta:
        model = ManufacturerCode
        fields = ["code", "oem", "allocated_at"]


class BatteryModelOutputSerializer(serializers.ModelSerializer):
    oem = serializers.CharField(source="oem.name")

    class Meta:
        model = BatteryModel
        fields = [
            "id",
            "oem",
            "name",
            "chemistry",
            "product_type",
            "rated_capacity_ah",
            "nominal_voltage_v",
            "rated_energy_kwh",
            "mass_kg",
            "cell_count",
            "configuration",
            "expected_cycle_life",
            "expected_lifetime_years",
            "cell_voltage_min_v",
            "cell_voltage_max_v",
        ]


class BatteryOutputSerializer(serializers.ModelSerializer):
    oem = serializers.CharField(source="oem.name")
    battery_model = serializers.CharField(source="battery_model.name", allow_null=True, default=None)
    parent_code = serializers.CharField(source="parent.code", allow_null=True, default=None)
    original_code = serializers.CharField(source="original.code", allow_null=True, default=None)
    current_custodian = serializers.CharField(source="current_custodian.name")
    registered_by = serializers.CharField(source="registered_by.name")
    signed_with = serializers.CharField(source="registration_key.key_id", allow_null=True, default=None)
    passport_url = serializers.SerializerMethodField()

    class Meta:
        model = Battery
        fields = [
            "code",
            "scheme",
            "gs1_gtin",
            "gs1_serial",
            "product_type",
            "manufacturer_code",
            "battery_type",
            "production_date",
            "oem",
            "battery_model",
            "parent_code",
            "original_code",
            "status",
            "origin",
            "current_custodian",
            "registered_by",
            "registered_at",
            "signed_with",
            "passport_url",
        ]

    def get_passport_url(self, battery: Battery) -> str:
        from passport.qr import passport_url

        return passport_url(battery.code)


class DeviceKeyRevocationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeviceKeyRevocation
        fields = ["effective_at", "reason", "recorded_at"]


class DeviceKeyOutputSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.name")
    facility = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    revocations = DeviceKeyRevocationOutputSerializer(many=True, read_only=True)

    class Meta:
        model = DeviceKey
        fields = [
            "key_id",
            "algorithm",
            "public_key_pem",
            "organisation",
            "facility",
            "device_serial",
            "purpose",
            "label",
            "valid_from",
            "valid_until",
            "created_at",
            "revocations",
        ]


class AccessGrantOutputSerializer(serializers.ModelSerializer):
    battery = serializers.CharField(source="battery.code")
    grantee = serializers.CharField(source="grantee.name")
    grantee_id = serializers.IntegerField(source="grantee.pk")
    granted_by = serializers.CharField(source="granted_by.name")
    live = serializers.SerializerMethodField()

    class Meta:
        model = AccessGrant
        fields = [
            "id",
            "battery",
            "grantee",
            "grantee_id",
            "granted_by",
            "purpose",
            "valid_from",
            "valid_until",
            "revoked_at",
            "revocation_reason",
            "live",
        ]

    def get_live(self, grant: AccessGrant) -> bool:
        return grant.is_live()


class SegmentSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    position = serializers.IntegerField(help_text="1-based position of the segment's first character.")
    length = serializers.IntegerField()
    value = serializers.CharField()
    meaning = serializers.CharField()
    valid = serializers.BooleanField()
    error = serializers.DictField(allow_null=True)


class CodeExplanationOutputSerializer(serializers.Serializer):
    input = serializers.CharField()
    code = serializers.CharField(help_text="The identifier after normalisation.")
    scheme = serializers.CharField(allow_null=True)
    valid = serializers.BooleanField()
    registered = serializers.BooleanField()
    segments = SegmentSerializer(many=True)
    error = serializers.DictField(
        allow_null=True, help_text="The first problem: code, message, segment, position."
    )
    errors = serializers.ListField(child=serializers.DictField())


class ReasonSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["origin", "licensed_sites", "bms_history", "chain_intact"])
    label = serializers.CharField()
    state = serializers.ChoiceField(choices=["passed", "failed", "unavailable"])
    explanation = serializers.CharField()


class VerdictSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["verified", "not_verified", "incomplete"])
    label = serializers.CharField()
    verified = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)


class AttributeSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Battery Pass (DIN DKE SPEC 99100) attribute name.")
    label = serializers.CharField()
    value = serializers.JSONField()
    unit = serializers.CharField()
    tier = serializers.ChoiceField(choices=["public", "legitimate_interest", "authority"])
    catenax = serializers.CharField(help_text="Path of the value in Catena-X BatteryPass 6.1.0, if any.")
    extension = serializers.BooleanField(
        help_text="True for attributes the Battery Pass table does not name."
    )


class PassportOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    scheme = serializers.CharField()
    tier = serializers.ChoiceField(choices=["public", "legitimate_interest", "authority"])
    passport_url = serializers.URLField()
    qr_svg = serializers.CharField()
    qr_png = serializers.CharField()
    verdict = VerdictSerializer()
    attributes = AttributeSerializer(many=True)
    custody = serializers.DictField()
    components = serializers.ListField(child=serializers.CharField())
    component_count = serializers.IntegerField()
