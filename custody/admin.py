"""Read-only admin views of custody records: every change goes through a custody service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from custody.events.models import BundleExport, CustodyEvent
from custody.history.models import HistoryDelivery, HistoryRequest
from custody.intake.models import IntakeImport
from custody.lots.models import MaterialLot
from custody.transfers.models import Transfer


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and shows; adding, changing and deleting happen only through the custody services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CustodyEvent)
class CustodyEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "type",
        "battery",
        "lot",
        "seq",
        "actor",
        "facility",
        "occurred_at",
        "licence_status",
    ]
    list_filter = ["type", "activity"]
    list_select_related = ["battery", "lot", "actor", "facility"]
    search_fields = ["battery__code", "lot__code"]


@admin.register(MaterialLot)
class MaterialLotAdmin(ReadOnlyAdmin):
    list_display = ["code", "material", "mass_kg", "status", "current_custodian", "produced_at"]
    list_filter = ["material", "status"]
    list_select_related = ["current_custodian"]
    search_fields = ["code"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "battery", "lot", "from_organisation", "to_organisation", "status", "expires_at"]
    list_filter = ["status"]
    list_select_related = ["battery", "lot", "from_organisation", "to_organisation"]


@admin.register(IntakeImport)
class IntakeImportAdmin(ReadOnlyAdmin):
    list_display = ["original_name", "organisation", "facility", "status", "row_count", "created_at"]
    list_select_related = ["organisation", "facility"]


@admin.register(BundleExport)
class BundleExportAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "channel", "requested_by", "organisation", "tier"]
    list_select_related = ["requested_by", "organisation"]


@admin.register(HistoryRequest)
class HistoryRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "battery", "requester", "custodian", "status", "created_at", "decided_at"]
    list_filter = ["status"]
    list_select_related = ["battery", "requester", "custodian"]
    search_fields = ["battery__code", "requester__name"]


@admin.register(HistoryDelivery)
class HistoryDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["delivered_at", "request", "organisation", "cross_border", "payload_sha256"]
    list_select_related = ["organisation"]
