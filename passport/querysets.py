"""Scoping and domain filters for batteries, keys and grants."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.querysets import VisibleToQuerySet

if TYPE_CHECKING:
    from accounts.models import Organisation


class AccessGrantQuerySet(VisibleToQuerySet):
    """Grants: the granting custodian and the grantee see them."""

    def live(self, at: datetime | None = None) -> AccessGrantQuerySet:
        moment = at or timezone.now()
        return self.filter(revoked_at__isnull=True, valid_from__lte=moment, valid_until__gt=moment)

    def scope_for(self, organisation: Organisation) -> Q:
        return (
            Q(granted_by=organisation) | Q(grantee=organisation) | Q(battery__current_custodian=organisation)
        )


class BatteryQuerySet(VisibleToQuerySet):
    """Batteries: the OEM, the current custodian and organisations holding a live grant see them."""

    def scope_for(self, organisation: Organisation) -> Q:
        grants = (
            apps.get_model("passport", "AccessGrant")
            .objects.live()
            .filter(battery=OuterRef("pk"), grantee=organisation)
        )
        return Q(oem=organisation) | Q(current_custodian=organisation) | Q(Exists(grants))

    def for_passport(self) -> BatteryQuerySet:
        """Everything the passport page shows about one battery, in one query."""
        return self.select_related(
            "oem",
            "battery_model",
            "current_custodian",
            "registered_by",
            "parent",
            "original",
            "registration_key",
            "snapshot_summary",
        )

    def with_code(self, code: str) -> BatteryQuerySet:
        return self.filter(code=code)


class DeviceKeyQuerySet(VisibleToQuerySet):
    """Device keys: each organisation sees its own."""

    def valid_at(self, at: datetime) -> DeviceKeyQuerySet:
        """Keys inside their validity window at `at` and not revoked by then."""
        revocations = apps.get_model("passport", "DeviceKeyRevocation").objects.filter(
            key=OuterRef("pk"), effective_at__lte=at
        )
        return self.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at), valid_from__lte=at).exclude(
            Exists(revocations)
        )

    def with_revocations(self) -> Any:
        return self.prefetch_related(models.Prefetch("revocations"))
