"""Menu entries for snapshots: uploads, device keys, retention, lab designations."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from core.navigation import NavItem, register_nav


def _member(user: Any) -> bool:
    return bool(user.is_authenticated and getattr(user, "organisation", None) is not None)


def _uploader(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm("passport.upload_snapshots"))


def _regulator(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm("passport.designate_lab"))


def register() -> None:
    register_nav(NavItem(_("Snapshots"), "passport:snapshot-upload", order=35, visible=_uploader))
    register_nav(NavItem(_("Device keys"), "passport:device-keys", order=36, visible=_member))
    register_nav(NavItem(_("Retention"), "passport:retention", order=37, visible=_member))
    register_nav(NavItem(_("Lab designations"), "passport:lab-designations", order=38, visible=_regulator))
