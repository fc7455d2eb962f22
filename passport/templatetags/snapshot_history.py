"""`{% snapshot_history passport %}`: the BMS history section of a passport, at the reader's tier."""

from __future__ import annotations

from typing import Any

from django import template

from passport.snapshots.charts import history_charts
from passport.snapshots.selectors import history_for

register = template.Library()


@register.inclusion_tag("passport/snapshots/_history.html", takes_context=True)
def snapshot_history(context: template.Context, passport: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    history = history_for(battery=passport.battery, user=user, tier=passport.tier)
    return {
        "history": history,
        "battery": passport.battery,
        "charts": history_charts(history.points) if history.detailed else {},
        "is_authority": history.tier == "authority",
        "request": request,
    }
