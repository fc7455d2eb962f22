"""Registries through which apps add menu entries and dashboard panels, so core imports no app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise

Visible = Callable[[Any], bool]


def _anyone(user: Any) -> bool:
    return bool(user.is_authenticated)


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    order: int = 100
    visible: Visible = _anyone


@dataclass(frozen=True)
class DashboardPanel:
    """A block on the dashboard: a template and a function giving its context for a user."""

    template: str
    kinds: frozenset[str] = field(default_factory=frozenset)  # empty = every organisation kind
    order: int = 100
    context: Callable[[Any], dict[str, Any]] = lambda user: {}


_nav: list[NavItem] = []
_panels: list[DashboardPanel] = []


def register_nav(item: NavItem) -> None:
    if item not in _nav:
        _nav.append(item)


def register_panel(panel: DashboardPanel) -> None:
    if panel not in _panels:
        _panels.append(panel)


def nav_for(user: Any) -> list[NavItem]:
    return sorted((item for item in _nav if item.visible(user)), key=lambda item: item.order)


def panels_for(user: Any, kind: str | None) -> list[DashboardPanel]:
    chosen = [
        p for p in _panels if not p.kinds or (kind is not None and kind in p.kinds) or user.is_superuser
    ]
    return sorted(chosen, key=lambda panel: panel.order)
