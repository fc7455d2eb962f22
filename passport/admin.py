"""Read-only admin: passports change only through services, which check rules and leave records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from passport.models import (
    AccessGrant,
    Battery,
    BatteryModel,
    CloneAlert,
    DeviceKey,
    DeviceKeyRevocation,
    LabelSheet,
    ManufacturerCode,
    RegistrationImport,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ManufacturerCode)
class ManufacturerCodeAdmin(ReadOnlyAdmin):
    list_display = ["code", "oem", "allocated_at"]
    search_fields = ["code", "oem__name"]


@admin.register(BatteryModel)
class BatteryModelAdmin(ReadOnlyAdmin):
    list_display = ["name", "oem", "chemistry", "product_type", "rated_capacity_ah", "nominal_voltage_v"]
    list_filter = ["chemistry", "product_type"]
    search_fields = ["name", "oem__name"]


@admin.register(Battery)
class BatteryAdmin(ReadOnlyAdmin):
    list_display = ["code", "product_type", "oem", "status", "origin", "current_custodian", "registered_at"]
    list_filter = ["product_type", "status", "origin"]
    search_fields = ["code"]
    list_select_related = ["oem", "current_custodian"]
    raw_id_fields = ["parent", "original"]


@admin.register(DeviceKey)
class DeviceKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "organisation", "purpose", "algorithm", "valid_from", "valid_until"]
    list_filter = ["purpose", "algorithm"]
    search_fields = ["key_id", "device_serial", "organisation__name"]


@admin.register(DeviceKeyRevocation)
class DeviceKeyRevocationAdmin(ReadOnlyAdmin):
    list_display = ["key", "effective_at", "reason", "actor", "recorded_at"]


@admin.register(AccessGrant)
class AccessGrantAdmin(ReadOnlyAdmin):
    list_display = ["battery", "grantee", "granted_by", "valid_until", "revoked_at"]
    raw_id_fields = ["battery"]


@admin.register(CloneAlert)
class CloneAlertAdmin(ReadOnlyAdmin):
    list_display = ["code", "attempted_by", "channel", "detected_at"]
    search_fields = ["code"]


@admin.register(RegistrationImport)
class RegistrationImportAdmin(ReadOnlyAdmin):
    list_display = ["original_name", "organisation", "status", "row_count", "imported_count", "error_count"]


@admin.register(LabelSheet)
class LabelSheetAdmin(ReadOnlyAdmin):
    list_display = ["pk", "organisation", "status", "created_at"]
