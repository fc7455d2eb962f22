"""Filters shared by the facility and licence pages and the API (status is the state now)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.params import IdFilter
from licensing.models import Activity, Facility, Licence
from licensing.provinces import CN_PROVINCES


class _StateFilters(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=Licence.Status.choices, method="filter_status", empty_label=_("Any status")
    )
    kind = django_filters.ChoiceFilter(
        label=_("Licence kind"), choices=Licence.Kind.choices, method="filter_kind", empty_label=_("Any kind")
    )
    expiring_within = django_filters.NumberFilter(
        label=_("Expiring within (days)"), method="filter_expiring", min_value=0, max_value=3650
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = timezone.now()

    def licences(self) -> Any:
        return Licence.objects.with_state(self.now)


class FacilityFilter(_StateFilters):
    """Facilities holding a licence in the chosen status or kind, or one expiring soon."""

    province = django_filters.ChoiceFilter(
        label=_("Province"), choices=sorted(CN_PROVINCES.items()), empty_label=_("Any province")
    )

    class Meta:
        model = Facility
        fields = ["status", "province", "kind", "expiring_within"]

    def filter_status(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.with_licence(self.licences().filter(state=value))

    def filter_kind(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.with_licence(Licence.objects.filter(kind=value))

    def filter_expiring(self, queryset: Any, name: str, value: Any) -> Any:
        return queryset.with_licence(self.licences().expiring_within(self.now, int(value)))


class LicenceFilter(_StateFilters):
    """Licences by status now, kind, province, facility, permitted activity or nearing expiry."""

    province = django_filters.ChoiceFilter(
        label=_("Province"), field_name="facility__province", choices=sorted(CN_PROVINCES.items())
    )
    activity = django_filters.ChoiceFilter(
        label=_("Activity"), choices=Activity.choices, method="filter_activity"
    )
    facility = IdFilter(label=_("Facility"), field_name="facility_id")

    class Meta:
        model = Licence
        fields = ["status", "province", "kind", "expiring_within", "facility", "activity"]

    def filter_status(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(state=value)

    def filter_kind(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(kind=value)

    def filter_expiring(self, queryset: Any, name: str, value: Any) -> Any:
        return queryset.expiring_within(self.now, int(value))

    def filter_activity(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.permitting(value)
