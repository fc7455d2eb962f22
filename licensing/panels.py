"""The dashboard's licence panel: counts by status and what expires soon, for the user's scope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from licensing import selectors

SOON_DAYS = 30


def licence_panel(user: Any) -> dict[str, Any]:
    """Counts by status of the licences the user may see, and those closing within 30 days."""
    now = timezone.now()
    licences = selectors.licences_with_state(user=user, at=now)
    expiring = list(licences.expiring_within(now, SOON_DAYS).order_by("current_ends_at")[:10])
    troubled = list(
        licences.filter(state__in=["suspended", "revoked", "expired"]).order_by("facility__name")[:10]
    )
    return {
        "counts": selectors.state_counts(user=user, at=now),
        "expiring": expiring,
        "troubled": troubled,
        "soon_days": SOON_DAYS,
        "horizon": now + timedelta(days=SOON_DAYS),
        "sees_all": bool(user.is_superuser or (user.organisation and user.organisation.is_authority)),
    }
