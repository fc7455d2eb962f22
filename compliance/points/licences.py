"""Point 1: every facility holds a valid licence for each activity it performs.

Three queries whatever the size of the organisation: its facilities, their licences with their state at
the instant (`Licence.with_state`, the one fold of the history), and the custody steps at those
facilities grouped by facility and activity.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils.translation import gettext as _

from compliance.checklist import AMBER, GREEN, RED, EvidenceLink, Point, Scope
from compliance.thresholds import ACTIVITY_WINDOW_DAYS, LICENCE_EXPIRY_WARNING_DAYS, MAX_FINDINGS
from custody.events.models import CustodyEvent
from licensing.models import Activity, Licence, LicenceEvent


def _steps(scope: Scope, at: datetime, since: datetime) -> list[dict[str, Any]]:
    """Licensed custody steps per facility and activity: recent ones, and older ones that a revocation
    recorded in the window now flags."""
    revoked_later = LicenceEvent.objects.filter(
        licence=OuterRef("licence_id"),
        kind=LicenceEvent.Kind.REVOKED,
        effective_at__lte=OuterRef("occurred_at"),
        recorded_at__gt=OuterRef("recorded_at"),
    )
    fresh_revocations = LicenceEvent.objects.filter(
        kind=LicenceEvent.Kind.REVOKED,
        recorded_at__gt=since,
        recorded_at__lte=at,
        licence__facility__in=scope.facilities(),
    ).values("licence_id")
    recent = Q(occurred_at__gt=since, occurred_at__lte=at)
    uncovered = Q(licence__isnull=True) | ~Q(licence_status="active")
    return list(
        CustodyEvent.objects.filter(facility__in=scope.facilities())
        .exclude(activity="")
        .filter(recent | Q(licence_id__in=fresh_revocations))
        .values("facility_id", "activity")
        .annotate(
            recent_steps=Count("id", filter=recent),
            uncovered=Count("id", filter=recent & uncovered),
            flagged=Count("id", filter=Q(Exists(revoked_later))),
            last_at=Max("occurred_at"),
        )
        .order_by("facility_id", "activity")
    )


def evaluate(scope: Scope, at: datetime) -> Point:
    """Red: a recent step without cover, flagged by a retroactive revocation, or no longer coverable now.
    Amber: a licence expiring within 30 days, a suspension, or a facility with no licence in force."""
    since = at - timedelta(days=ACTIVITY_WINDOW_DAYS)
    facilities = dict(scope.facilities().order_by("name", "id").values_list("id", "name"))
    licences = list(
        Licence.objects.filter(facility__in=scope.facilities())
        .with_state(at)
        .order_by("facility_id", "id")
        .values("id", "facility_id", "number", "state", "current_activities", "current_ends_at")
    )
    steps = _steps(scope, at, since)

    active_scope: dict[int, set[str]] = defaultdict(set)
    in_force: set[int] = set()
    expiring: list[dict[str, Any]] = []
    suspended: list[dict[str, Any]] = []
    horizon = at + timedelta(days=LICENCE_EXPIRY_WARNING_DAYS)
    for licence in licences:
        if licence["state"] in ("active", "suspended"):
            in_force.add(licence["facility_id"])
        if licence["state"] == "active":
            active_scope[licence["facility_id"]].update(licence["current_activities"] or [])
            ends = licence["current_ends_at"]
            if ends is not None and at < ends <= horizon:
                expiring.append(licence)
        elif licence["state"] == "suspended":
            suspended.append(licence)

    findings: list[str] = []
    red_sites: set[int] = set()
    amber_sites: set[int] = set()
    uncovered = flagged = lost = recent_steps = 0
    for row in steps:
        site, activity = facilities.get(row["facility_id"], ""), _activity_label(row["activity"])
        recent_steps += row["recent_steps"]
        if row["uncovered"]:
            uncovered += row["uncovered"]
            red_sites.add(row["facility_id"])
            findings.append(
                _("%(site)s: %(activity)s steps without a licence in force: %(count)d.")
                % {"site": site, "count": row["uncovered"], "activity": activity}
            )
        if row["flagged"]:
            flagged += row["flagged"]
            red_sites.add(row["facility_id"])
            findings.append(
                _("%(site)s: %(activity)s steps flagged by a licence revoked retroactively: %(count)d.")
                % {"site": site, "count": row["flagged"], "activity": activity}
            )
        if row["recent_steps"] and row["activity"] not in active_scope[row["facility_id"]]:
            lost += 1
            red_sites.add(row["facility_id"])
            findings.append(
                _("%(site)s performed %(activity)s on %(day)s but holds no licence in force for it now.")
                % {"site": site, "activity": activity, "day": f"{row['last_at']:%Y-%m-%d}"}
            )
    for licence in expiring:
        amber_sites.add(licence["facility_id"])
        findings.append(
            _("%(site)s: licence %(number)s expires on %(day)s.")
            % {
                "site": facilities.get(licence["facility_id"], ""),
                "number": licence["number"],
                "day": f"{licence['current_ends_at']:%Y-%m-%d}",
            }
        )
    for licence in suspended:
        amber_sites.add(licence["facility_id"])
        findings.append(
            _("%(site)s: licence %(number)s is suspended.")
            % {"site": facilities.get(licence["facility_id"], ""), "number": licence["number"]}
        )
    unlicensed = [pk for pk in facilities if pk not in in_force]
    for pk in unlicensed:
        amber_sites.add(pk)
        findings.append(_("%(site)s holds no licence in force.") % {"site": facilities[pk]})

    figures = {
        "facilities": len(facilities),
        "licences": len(licences),
        "licences_in_force": sum(1 for licence in licences if licence["state"] in ("active", "suspended")),
        "licences_expiring_soon": len(expiring),
        "licences_suspended": len(suspended),
        "facilities_without_licence_in_force": len(unlicensed),
        "window_days": ACTIVITY_WINDOW_DAYS,
        "licensed_steps_in_window": recent_steps,
        "steps_without_cover": uncovered,
        "steps_flagged_by_retroactive_revocation": flagged,
        "activities_without_cover_now": lost,
    }
    if uncovered or flagged or lost:
        status, rule_code = RED, "LICENCE_STEP_NOT_COVERED"
        rule = _(
            "Red: in the last %(days)d days a custody step happened without licence cover, under a licence "
            "later revoked with retroactive effect, or at a site that no longer holds a licence for it."
        ) % {"days": ACTIVITY_WINDOW_DAYS}
    elif expiring or suspended or unlicensed:
        status, rule_code = AMBER, "LICENCE_ATTENTION"
        rule = _(
            "Amber: no uncovered step, but a licence expires within %(days)d days, is suspended, or a "
            "facility holds no licence in force."
        ) % {"days": LICENCE_EXPIRY_WARNING_DAYS}
    else:
        status, rule_code = GREEN, "LICENCE_OK"
        rule = _(
            "Green: every licensed custody step of the last %(days)d days was covered, none is flagged, and "
            "every facility holds a licence in force that is not about to expire."
        ) % {"days": ACTIVITY_WINDOW_DAYS}

    if not facilities:
        summary = _("No facilities on record: this organisation performs no licensed activity.")
    else:
        summary = _(
            "Facilities: %(facilities)d; licences in force: %(in_force)d; licensed custody steps in the last "
            "%(days)d days: %(steps)d."
        ) % {
            "facilities": len(facilities),
            "in_force": figures["licences_in_force"],
            "steps": recent_steps,
            "days": ACTIVITY_WINDOW_DAYS,
        }

    problem_sites = [pk for pk in facilities if pk in red_sites] + [
        pk for pk in facilities if pk in amber_sites and pk not in red_sites
    ]
    evidence = [
        EvidenceLink(_("Licences of %(site)s") % {"site": facilities[pk]}, "licensing:facility-detail", (pk,))
        for pk in (problem_sites or list(facilities))[:MAX_FINDINGS]
    ]
    if scope.facility is None:
        evidence.append(EvidenceLink(_("All facilities and licences"), "licensing:facility-list"))
    return Point(
        number=1,
        key="licences",
        title=_("Dismantling licence validity"),
        status=status,
        summary=summary,
        rule=rule,
        rule_code=rule_code,
        figures=figures,
        findings=tuple(findings[:MAX_FINDINGS]),
        evidence=tuple(evidence),
    )


def _activity_label(value: str) -> str:
    return str(Activity(value).label) if value in Activity.values else value
