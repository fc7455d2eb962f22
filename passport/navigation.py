"""The passport's menu entries and dashboard panels."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.navigation import DashboardPanel, NavItem, register_nav, register_panel


def _anyone(user: Any) -> bool:
    return True


def _member(user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or getattr(user, "organisation", None)))


def _oem_panel(user: Any) -> dict[str, Any]:
    from passport.selectors import dashboard_figures

    organisation = user.organisation
    return dashboard_figures(organisation) if organisation is not None else {}


def register() -> None:
    register_nav(NavItem(_("Scan"), "passport:scan", order=20, visible=_anyone))
    register_nav(NavItem(_("Batteries"), "passport:battery-list", order=30, visible=_member))
    register_panel(
        DashboardPanel(
            "passport/panels/oem.html", kinds=frozenset({Organisation.Kind.OEM}), order=20, context=_oem_panel
        )
    )
    register_panel(
        DashboardPanel(
            "passport/panels/custody.html",
            kinds=frozenset(
                {
                    Organisation.Kind.RECYCLER,
                    Organisation.Kind.SECOND_LIFE,
                    Organisation.Kind.LOGISTICS,
                    Organisation.Kind.BUYER,
                }
            ),
            order=20,
            context=_oem_panel,
        )
    )
