"""Read-only admin: licences change only through the regulator's actions (services)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from licensing.models import Facility, Licence, LicenceEvent, LicenceEvidence


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Facility)
class FacilityAdmin(ReadOnlyAdmin):
    list_display = ["name", "organisation", "province", "country", "timezone"]
    list_filter = ["province", "country"]
    search_fields = ["name", "organisation__name"]


@admin.register(Licence)
class LicenceAdmin(ReadOnlyAdmin):
    list_display = ["number", "kind", "issuing_authority", "facility", "valid_from", "valid_until"]
    list_filter = ["kind"]
    search_fields = ["number", "issuing_authority", "facility__name"]


@admin.register(LicenceEvent)
class LicenceEventAdmin(ReadOnlyAdmin):
    list_display = ["licence", "kind", "effective_at", "recorded_at", "actor"]
    list_filter = ["kind"]


@admin.register(LicenceEvidence)
class LicenceEvidenceAdmin(ReadOnlyAdmin):
    list_display = ["licence", "original_name", "sha256", "uploaded_by", "uploaded_at"]
