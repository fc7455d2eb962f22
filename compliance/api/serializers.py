"""The checklist as the API returns it (the same shape as the `checklist` of the signed JSON report)."""

from __future__ import annotations

from rest_framework import serializers

from compliance.checklist import POINT_KEYS, SCOPES, STATUSES


class ChecklistOrganisationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2; decides jurisdiction.")


class ChecklistFacilitySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    province = serializers.CharField()
    country = serializers.CharField()


class ChecklistEvidenceLinkSerializer(serializers.Serializer):
    label = serializers.CharField()
    url_name = serializers.CharField(help_text="Django URL name of the page, e.g. licensing:facility-detail.")
    args = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField(help_text="Path of the page on this deployment.")


class ChecklistStatusCountsSerializer(serializers.Serializer):
    green = serializers.IntegerField()
    amber = serializers.IntegerField()
    red = serializers.IntegerField()


class ChecklistPointSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=5)
    key = serializers.ChoiceField(choices=POINT_KEYS)
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    status_label = serializers.CharField(help_text="The status in words, translated.")
    summary = serializers.CharField(help_text="One translated line.")
    rule = serializers.CharField(help_text="The rule that decided the colour, translated.")
    rule_code = serializers.CharField(help_text="Stable code of that rule, e.g. LICENCE_STEP_NOT_COVERED.")
    figures = serializers.DictField(
        child=serializers.JSONField(), help_text="The counts and values behind the colour (keys are stable)."
    )
    findings = serializers.ListField(child=serializers.CharField(), help_text="What needs attention, named.")
    evidence = ChecklistEvidenceLinkSerializer(many=True)


class ChecklistOutputSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=SCOPES)
    at = serializers.DateTimeField(help_text="The instant the checklist was read for (UTC).")
    organisation = ChecklistOrganisationSerializer()
    facility = ChecklistFacilitySerializer(allow_null=True)
    status = serializers.ChoiceField(choices=STATUSES, help_text="The worst of the five.")
    counts = ChecklistStatusCountsSerializer()
    points = ChecklistPointSerializer(many=True)
