from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _sees_facilities(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm("licensing.view_facilities"))


def _panel_context(user: Any) -> dict[str, Any]:
    from licensing.panels import licence_panel

    return licence_panel(user)


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = _("Licensing")

    def ready(self) -> None:
        from core.navigation import DashboardPanel, NavItem, register_nav, register_panel

        register_nav(NavItem(_("Facilities"), "licensing:facility-list", order=20, visible=_sees_facilities))
        register_panel(
            DashboardPanel(
                "licensing/panel.html",
                kinds=frozenset({"recycler", "second_life", "logistics", "regulator", "auditor"}),
                order=20,
                context=_panel_context,
            )
        )
