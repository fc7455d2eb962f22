"""The checklist's menu entry and dashboard panel."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from core.navigation import DashboardPanel, NavItem, register_nav, register_panel


def _may_read(user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or getattr(user, "organisation", None)))


def _panel(user: Any) -> dict[str, Any]:
    """Authorities get a way in; a member sees the five colours of their own organisation."""
    from compliance import selectors

    if selectors.is_checklist_authority(user):
        return {"checklist": None}
    organisation = getattr(user, "organisation", None)
    if organisation is None or not selectors.organisations_for(user).filter(pk=organisation.pk).exists():
        return {"checklist": None}
    return {"checklist": selectors.checklist_for_organisation(organisation=organisation)}


def register() -> None:
    register_nav(NavItem(_("Compliance"), "compliance:home", order=60, visible=_may_read))
    register_panel(DashboardPanel("compliance/panels/compliance.html", order=80, context=_panel))
