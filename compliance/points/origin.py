"""Point 2: each unit is traceable to its original OEM (origin verified by the OEM itself).

Two queries: one aggregate over the batteries in scope, and the first few disputed (else claimed) codes
for the evidence links.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from compliance.checklist import AMBER, GREEN, RED, EvidenceLink, Point, Scope
from compliance.thresholds import MAX_EXAMPLES, VERIFIED_SHARE_AMBER_PCT, VERIFIED_SHARE_GREEN_PCT
from passport.models import Battery


def evaluate(scope: Scope, at: datetime) -> Point:
    """Green: at least 99% verified and none disputed. Amber: at least 90% and none disputed. Red: less,
    or any disputed origin (no resolution is on record while the origin stays disputed)."""
    batteries = Battery.objects.filter(scope.battery_filter())
    totals = batteries.aggregate(
        total=Count("id"),
        verified=Count("id", filter=Q(origin=Battery.Origin.VERIFIED)),
        claimed=Count("id", filter=Q(origin=Battery.Origin.CLAIMED)),
        disputed=Count("id", filter=Q(origin=Battery.Origin.DISPUTED)),
    )
    total, verified, disputed = totals["total"], totals["verified"], totals["disputed"]
    share = round(100.0 * verified / total, 2) if total else 100.0
    worst_origin = Battery.Origin.DISPUTED if disputed else Battery.Origin.CLAIMED
    examples = (
        list(
            batteries.filter(origin=worst_origin)
            .order_by("-registered_at", "code")
            .values_list("code", flat=True)[:MAX_EXAMPLES]
        )
        if verified < total
        else []
    )
    figures = {
        "batteries": total,
        "verified": verified,
        "claimed": totals["claimed"],
        "disputed": disputed,
        "verified_share_pct": share,
    }
    if disputed or share < VERIFIED_SHARE_AMBER_PCT:
        status, rule_code = RED, "ORIGIN_DISPUTED_OR_LOW"
        rule = _(
            "Red: an origin is disputed, or less than %(amber)s%% of the batteries were registered by their "
            "OEM."
        ) % {"amber": _number(VERIFIED_SHARE_AMBER_PCT)}
    elif share < VERIFIED_SHARE_GREEN_PCT:
        status, rule_code = AMBER, "ORIGIN_PARTLY_CLAIMED"
        rule = _(
            "Amber: no origin is disputed, but only between %(amber)s%% and %(green)s%% of the batteries "
            "were registered by their OEM."
        ) % {"amber": _number(VERIFIED_SHARE_AMBER_PCT), "green": _number(VERIFIED_SHARE_GREEN_PCT)}
    else:
        status, rule_code = GREEN, "ORIGIN_VERIFIED"
        rule = _(
            "Green: at least %(green)s%% of the batteries were registered by their OEM and no origin is "
            "disputed."
        ) % {"green": _number(VERIFIED_SHARE_GREEN_PCT)}
    if total:
        summary = _(
            "Origin verified by the OEM: %(share)s%% of %(total)d batteries (claimed: %(claimed)d, "
            "disputed: %(disputed)d)."
        ) % {"share": _number(share), "total": total, "claimed": totals["claimed"], "disputed": disputed}
    else:
        summary = _("No batteries in scope.")
    label = _("Disputed origin: %(code)s") if disputed else _("Origin only claimed: %(code)s")
    evidence = [EvidenceLink(label % {"code": code}, "passport:page", (code,)) for code in examples]
    if scope.facility is None:
        evidence.append(EvidenceLink(_("Batteries"), "passport:battery-list"))
    return Point(
        number=2,
        key="origin",
        title=_("Traceability to the original OEM"),
        status=status,
        summary=summary,
        rule=rule,
        rule_code=rule_code,
        figures=figures,
        findings=tuple(label % {"code": code} for code in examples),
        evidence=tuple(evidence),
    )


def _number(value: float) -> str:
    return f"{value:g}"
