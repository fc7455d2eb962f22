from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.navigation import nav_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The menu entries the signed-in user's role allows."""
    user = getattr(request, "user", None)
    return {"nav_items": nav_for(user) if user is not None else []}
