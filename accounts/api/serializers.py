from __future__ import annotations

from rest_framework import serializers

from accounts.models import Organisation, User


class OrganisationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "name", "kind", "country"]


class MeOutputSerializer(serializers.ModelSerializer):
    organisation = OrganisationOutputSerializer(read_only=True)
    role = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "is_superuser", "organisation", "role"]
