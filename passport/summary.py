"""The custody summary shown on the public passport: which sites handled the battery, and when.

Custody holds the events; it registers a provider here, so passport never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from passport.models import Battery


@dataclass(frozen=True)
class CustodyStep:
    """One site that held the battery: organisation, facility, month, and its licence then."""

    organisation: str
    facility: str
    month: str  # YYYY-MM
    activity: str
    licensed: bool | None  # None: no licence applies to this step (e.g. the OEM's own plant)

    def as_dict(self) -> dict[str, object]:
        return {
            "organisation": self.organisation,
            "facility": self.facility,
            "month": self.month,
            "activity": self.activity,
            "licensed": self.licensed,
        }


@dataclass(frozen=True)
class CustodySummary:
    available: bool
    steps: tuple[CustodyStep, ...] = field(default_factory=tuple)
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "available": self.available,
            "steps": [step.as_dict() for step in self.steps],
            "note": self.note,
        }


SummaryProvider = Callable[["Battery"], CustodySummary]

_provider: list[SummaryProvider] = []


def register_custody_summary(provider: SummaryProvider) -> None:
    """Install the provider of custody summaries (one at a time; the last registration wins)."""
    _provider[:] = [provider]


def unregister_custody_summary() -> None:
    _provider.clear()


def custody_summary(battery: Battery) -> CustodySummary:
    """The custody summary of a battery, or a note that custody records are not available yet."""
    if _provider:
        return _provider[0](battery)
    return CustodySummary(available=False, note=_("Custody history is not available yet."))
