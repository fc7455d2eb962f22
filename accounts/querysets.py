"""The one scoping mechanism every queryset uses: `Model.objects.visible_to(user)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from accounts.models import Organisation


class VisibleToQuerySet(models.QuerySet):
    """Rows a user may see: their organisation's own, everything for authorities and platform admins.

    A model names the path from itself to its owning organisation in `organisation_path`
    (e.g. "facility__organisation"); a model with richer rules overrides `scope_for`.
    """

    def visible_to(self, user: Any) -> VisibleToQuerySet:
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        organisation = getattr(user, "organisation", None)
        if organisation is None:
            return self.none()
        if organisation.is_authority:
            return self.all()
        scoped = self.filter(self.scope_for(organisation))
        return scoped.distinct() if getattr(self.model, "scope_needs_distinct", False) else scoped

    def scope_for(self, organisation: Organisation) -> models.Q:
        """What a non-authority organisation may see of this model."""
        return models.Q(**{self.model.organisation_path: organisation.pk})
