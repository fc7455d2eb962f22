"""Cross-border data's menu entry."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from core.navigation import NavItem, register_nav


def _reader(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm("crossborder.view_approvals"))


def register() -> None:
    register_nav(NavItem(_("Cross-border"), "crossborder:approvals", order=60, visible=_reader))
