"""Licence state at an instant, computed in the database from the event history.

This is the one place the history is folded: `Licence.objects.with_state(at)` annotates every licence
with its window, scope and status at `at`, from the events effective at or before `at`. The selectors,
the API filters, the dashboard and the expiry job all read it, so they cannot disagree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import Lookup

from accounts.querysets import VisibleToQuerySet
from core.db import AppendOnlyQuerySet


class ActivityListField(models.JSONField):
    """A JSON list of activity codes; `field__has="intake"` tests membership on PostgreSQL and SQLite."""


@ActivityListField.register_lookup
class HasActivity(Lookup):
    lookup_name = "has"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return (
            f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = {rhs})",
            [*lhs_params, *rhs_params],
        )

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs} @> jsonb_build_array(({rhs})::text))", [*lhs_params, *rhs_params]


class FacilityQuerySet(VisibleToQuerySet):
    def with_licence(self, licences: models.QuerySet) -> FacilityQuerySet:
        """Facilities holding at least one licence of `licences` (a `with_state` queryset)."""
        return self.filter(Exists(licences.filter(facility=OuterRef("pk"))))


class LicenceQuerySet(AppendOnlyQuerySet, VisibleToQuerySet):
    def with_state(self, at: datetime) -> LicenceQuerySet:
        """Annotate the window, scope and status each licence had at `at`.

        The rules: a revocation effective by `at` ends the licence for good; before `starts_at` it is
        pending; at or after the current end (the latest renewal's, else the issued one) it is expired;
        otherwise the latest of suspension and reinstatement decides. Ties in `effective_at` go to the
        later-recorded event (higher id).
        """
        from licensing.models import LicenceEvent

        history = LicenceEvent.objects.filter(licence=OuterRef("pk"), effective_at__lte=at)

        def latest(kinds: list[str], field: str) -> Subquery:
            return Subquery(history.filter(kind__in=kinds).order_by("-effective_at", "-id").values(field)[:1])

        return self.annotate(
            current_valid_until=Coalesce(latest(["renewed"], "new_valid_until"), F("valid_until")),
            current_ends_at=Coalesce(latest(["renewed"], "new_ends_at"), F("ends_at")),
            current_activities=Coalesce(
                latest(["scope_changed"], "new_activities"), F("activities"), output_field=ActivityListField()
            ),
            is_revoked=Exists(history.filter(kind="revoked")),
            suspension=latest(["suspended", "reinstated"], "kind"),
        ).annotate(
            state=Case(
                When(is_revoked=True, then=Value("revoked")),
                When(starts_at__gt=at, then=Value("pending")),
                When(current_ends_at__lte=at, then=Value("expired")),
                When(suspension="suspended", then=Value("suspended")),
                default=Value("active"),
                output_field=models.CharField(),
            )
        )

    def in_force(self) -> LicenceQuerySet:
        """Licences still running at the `with_state` instant (active or suspended)."""
        return self.filter(state__in=["active", "suspended"])

    def expiring_within(self, at: datetime, days: int) -> LicenceQuerySet:
        """In-force licences whose current window closes within `days` days after `at`."""
        return self.in_force().filter(current_ends_at__gt=at, current_ends_at__lte=at + timedelta(days=days))

    def permitting(self, activity: str) -> LicenceQuerySet:
        """Licences whose scope at the `with_state` instant includes `activity`."""
        return self.filter(Q(current_activities__has=activity))


class LicenceEventQuerySet(AppendOnlyQuerySet, VisibleToQuerySet):
    pass


class LicenceEvidenceQuerySet(AppendOnlyQuerySet, VisibleToQuerySet):
    pass
