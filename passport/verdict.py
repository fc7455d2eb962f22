"""The verification verdict a buyer sees after a scan, with the reason behind each part of it.

Four reasons, always in this order: `origin`, `licensed_sites`, `bms_history`, `chain_intact`. Each is
`passed`, `failed` or `unavailable`; the battery is "verified" only when every reason passed, so
missing evidence never counts in its favour. `origin` is checked here; the other checks are
registered by the apps that hold the evidence (snapshots, custody) with `register_verdict_check`.
A check must answer with a fixed number of queries, whatever the battery's history length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from passport.models import Battery

PASSED = "passed"
FAILED = "failed"
UNAVAILABLE = "unavailable"

VERIFIED = "verified"
NOT_VERIFIED = "not_verified"
INCOMPLETE = "incomplete"

REASONS: tuple[str, ...] = ("origin", "licensed_sites", "bms_history", "chain_intact")
REASON_LABELS: dict[str, Promise] = {
    "origin": gettext_lazy("Origin verified by the OEM"),
    "licensed_sites": gettext_lazy("Every custody step at a site licensed at the time"),
    "bms_history": gettext_lazy("BMS history present, signed and plausible"),
    "chain_intact": gettext_lazy("Custody chain intact"),
}
STATE_LABELS: dict[str, Promise] = {
    PASSED: gettext_lazy("passed"),
    FAILED: gettext_lazy("failed"),
    UNAVAILABLE: gettext_lazy("not available yet"),
}
OVERALL_LABELS: dict[str, Promise] = {
    VERIFIED: gettext_lazy("Verified"),
    NOT_VERIFIED: gettext_lazy("Not verified"),
    INCOMPLETE: gettext_lazy("Not fully verifiable yet"),
}


@dataclass(frozen=True)
class CheckResult:
    """What one check found: a state and a sentence saying why."""

    state: str
    explanation: str


@dataclass(frozen=True)
class Reason:
    name: str
    state: str
    explanation: str

    @property
    def label(self) -> str:
        return str(REASON_LABELS[self.name])

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def passed(self) -> bool:
        return self.state == PASSED

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label, "state": self.state, "explanation": self.explanation}


@dataclass(frozen=True)
class Verdict:
    reasons: tuple[Reason, ...]

    @property
    def state(self) -> str:
        if all(reason.state == PASSED for reason in self.reasons):
            return VERIFIED
        if any(reason.state == FAILED for reason in self.reasons):
            return NOT_VERIFIED
        return INCOMPLETE

    @property
    def verified(self) -> bool:
        return self.state == VERIFIED

    @property
    def label(self) -> str:
        return str(OVERALL_LABELS[self.state])

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "label": self.label,
            "verified": self.verified,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


Check = Callable[["Battery", datetime], CheckResult]


def check_origin(battery: Battery, at: datetime) -> CheckResult:
    """Verified only when the OEM registered the battery itself or signed its registration record."""
    oem = battery.oem.name
    if battery.origin == "verified":
        if battery.registration_key_id is not None:
            return CheckResult(
                PASSED,
                _("Registered with a record signed by %(oem)s (key %(key)s…).")
                % {"oem": oem, "key": battery.registration_key.key_id[:16]},
            )
        return CheckResult(PASSED, _("Registered by the manufacturer, %(oem)s, itself.") % {"oem": oem})
    if battery.origin == "disputed":
        return CheckResult(FAILED, _("The origin of this battery is disputed."))
    return CheckResult(
        FAILED,
        _("Registered by %(registrant)s, not by the manufacturer %(oem)s: the origin is only claimed.")
        % {"registrant": battery.registered_by.name, "oem": oem},
    )


def _not_available(message: Promise) -> Check:
    def check(battery: Battery, at: datetime) -> CheckResult:
        return CheckResult(UNAVAILABLE, str(message))

    return check


_DEFAULT_CHECKS: dict[str, Check] = {
    "origin": check_origin,
    "licensed_sites": _not_available(
        gettext_lazy("Custody records are not available yet, so site licences cannot be checked.")
    ),
    "bms_history": _not_available(gettext_lazy("Signed BMS history is not available yet.")),
    "chain_intact": _not_available(gettext_lazy("The custody chain is not available yet.")),
}
_checks: dict[str, Check] = dict(_DEFAULT_CHECKS)


def register_verdict_check(name: str, check: Check) -> None:
    """Install the real check for one reason (called from another app's `AppConfig.ready`)."""
    if name not in REASONS:
        raise ValueError(f"Unknown verdict reason {name!r}; expected one of {', '.join(REASONS)}.")
    _checks[name] = check


def reset_verdict_check(name: str) -> None:
    """Put back the built-in check for one reason."""
    _checks[name] = _DEFAULT_CHECKS[name]


def compute_verdict(battery: Battery, *, at: datetime | None = None) -> Verdict:
    """Run every check for `battery` and combine them."""
    moment = at or timezone.now()
    reasons = []
    for name in REASONS:
        result = _checks[name](battery, moment)
        reasons.append(Reason(name=name, state=result.state, explanation=result.explanation))
    return Verdict(reasons=tuple(reasons))
