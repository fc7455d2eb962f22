"""System checks for the snapshot settings: retention may be raised, never lowered below 8 years."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

MIN_RETENTION_YEARS = 8


@register()
def check_snapshot_retention(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Refuse SNAPSHOT_RETENTION_YEARS below 8 (the regulation's minimum) or not a whole number."""
    years = getattr(settings, "SNAPSHOT_RETENTION_YEARS", MIN_RETENTION_YEARS)
    if not isinstance(years, int) or isinstance(years, bool) or years < MIN_RETENTION_YEARS:
        return [
            Error(
                f"SNAPSHOT_RETENTION_YEARS is {years!r}; BMS snapshots must be kept at least "
                f"{MIN_RETENTION_YEARS} years after capture.",
                hint=f"Set SNAPSHOT_RETENTION_YEARS to {MIN_RETENTION_YEARS} or more (a setting may raise, "
                "never lower, the retention period).",
                id="passport.E101",
            )
        ]
    return []
