"""Output shapes of the licensing API (input serializers live on their views)."""

from __future__ import annotations

from rest_framework import serializers

from licensing.models import Activity, Facility, Licence, LicenceEvent, LicenceEvidence


class OrganisationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class LicenceSummarySerializer(serializers.ModelSerializer):
    """A licence as listed under its facility: its state now."""

    status = serializers.ChoiceField(source="state", choices=Licence.Status.choices)
    activities = serializers.ListField(
        source="current_activities", child=serializers.ChoiceField(Activity.choices)
    )
    valid_until = serializers.DateField(source="current_valid_until", allow_null=True)

    class Meta:
        model = Licence
        fields = [
            "id",
            "kind",
            "issuing_authority",
            "number",
            "status",
            "activities",
            "valid_from",
            "valid_until",
        ]


class FacilityOutputSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer()
    licences = LicenceSummarySerializer(many=True)

    class Meta:
        model = Facility
        fields = [
            "id",
            "organisation",
            "name",
            "address",
            "province",
            "country",
            "timezone",
            "created_at",
            "licences",
        ]


class LicenceOutputSerializer(serializers.ModelSerializer):
    """A licence with its issued values and, derived from its history, its state now."""

    facility = serializers.IntegerField(source="facility_id")
    facility_name = serializers.CharField(source="facility.name")
    organisation = serializers.IntegerField(source="facility.organisation_id")
    status = serializers.ChoiceField(source="state", choices=Licence.Status.choices)
    activities = serializers.ListField(
        source="current_activities",
        child=serializers.ChoiceField(Activity.choices),
        help_text="Activities permitted now (after scope changes).",
    )
    issued_activities = serializers.ListField(
        source="activities", child=serializers.ChoiceField(Activity.choices)
    )
    valid_until = serializers.DateField(
        source="current_valid_until", allow_null=True, help_text="Valid-until date now (after renewals)."
    )
    issued_valid_until = serializers.DateField(source="valid_until", allow_null=True)
    ends_at = serializers.DateTimeField(
        source="current_ends_at",
        allow_null=True,
        help_text="The instant the validity ends (exclusive), in UTC.",
    )

    class Meta:
        model = Licence
        fields = [
            "id",
            "facility",
            "facility_name",
            "organisation",
            "kind",
            "issuing_authority",
            "number",
            "status",
            "activities",
            "issued_activities",
            "valid_from",
            "valid_until",
            "issued_valid_until",
            "starts_at",
            "ends_at",
            "evidence_sha256",
            "created_at",
        ]


class LicenceEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    retroactive = serializers.BooleanField(source="is_retroactive")

    class Meta:
        model = LicenceEvent
        fields = [
            "id",
            "licence",
            "kind",
            "effective_at",
            "recorded_at",
            "reason",
            "actor",
            "evidence_sha256",
            "new_valid_until",
            "new_activities",
            "retroactive",
        ]


class LicenceEvidenceOutputSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(source="uploaded_by.username")

    class Meta:
        model = LicenceEvidence
        fields = [
            "id",
            "licence",
            "sha256",
            "size",
            "content_type",
            "original_name",
            "note",
            "uploaded_by",
            "uploaded_at",
        ]


class LicenceRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Licence
        fields = ["id", "kind", "issuing_authority", "number"]


class LicenceStatusOutputSerializer(serializers.Serializer):
    facility = serializers.IntegerField(source="facility.pk")
    activity = serializers.ChoiceField(choices=Activity.choices)
    at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    code = serializers.CharField(
        allow_null=True,
        help_text="Null when permitted; else NO_LICENCE, LICENCE_EXPIRED, LICENCE_SUSPENDED, LICENCE_REVOKED "
        "or SCOPE_NOT_COVERED.",
    )
    status = serializers.CharField(help_text="active, suspended, revoked, expired, none or out_of_scope.")
    message = serializers.CharField()
    licence = LicenceRefSerializer(
        allow_null=True, help_text="The licence that covers (or blocks) the activity."
    )
