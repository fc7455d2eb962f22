"""The reports menu entry: for members of any organisation (auditors and regulators among them)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from core.navigation import NavItem, register_nav


def _member(user: Any) -> bool:
    return bool(user.is_authenticated and getattr(user, "organisation", None))


def register() -> None:
    register_nav(NavItem(_("Reports"), "reports:list", order=55, visible=_member))
