"""Custody's menu entry and dashboard panel."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.navigation import DashboardPanel, NavItem, register_nav, register_panel


def _member(user: Any) -> bool:
    return bool(user.is_authenticated and getattr(user, "organisation", None))


def _panel(user: Any) -> dict[str, Any]:
    from custody.selectors.home import home_figures

    organisation = user.organisation
    return home_figures(organisation) if organisation is not None else {}


def register() -> None:
    register_nav(NavItem(_("Custody"), "custody:home", order=35, visible=_member))
    register_nav(NavItem(_("History requests"), "custody:history-requests", order=39, visible=_member))
    register_panel(
        DashboardPanel(
            "custody/panels/custody.html",
            kinds=frozenset(
                {
                    Organisation.Kind.OEM,
                    Organisation.Kind.RECYCLER,
                    Organisation.Kind.SECOND_LIFE,
                    Organisation.Kind.LOGISTICS,
                }
            ),
            order=25,
            context=_panel,
        )
    )
