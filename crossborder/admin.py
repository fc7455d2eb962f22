"""Read-only admin views: approvals are recorded and revoked only through crossborder.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from crossborder.models import ApprovalRevocation, ExportLogEntry, TransferApproval


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TransferApproval)
class TransferApprovalAdmin(ReadOnlyAdmin):
    list_display = ["reference", "holder", "recipient", "destination_country", "valid_from", "valid_until"]
    list_filter = ["basis", "destination_country"]
    list_select_related = ["holder", "recipient"]
    search_fields = ["reference", "holder__name", "recipient__name"]


@admin.register(ApprovalRevocation)
class ApprovalRevocationAdmin(ReadOnlyAdmin):
    list_display = ["approval", "at", "by_organisation"]
    list_select_related = ["approval", "by_organisation"]


@admin.register(ExportLogEntry)
class ExportLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "channel", "outcome", "code", "organisation", "recipient", "data_jurisdiction"]
    list_filter = ["outcome", "channel", "destination_country"]
    list_select_related = ["organisation", "recipient"]
    search_fields = ["subject", "code"]
