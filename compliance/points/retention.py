"""Point 3: BMS data is retained at least 8 years, held when a hold says so, and shredded on time after.

Four queries: one aggregate over the snapshots in scope, the legal holds in force (count and the first few
batteries), packs without any BMS data, and the retention job's last run. "On time" uses the grace of
the retention report (`passport.snapshots.selectors.SHRED_GRACE_HOURS`: the daily job, plus one missed
run), so the checklist and the report it links to always agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Value,
)
from django.utils.translation import gettext as _

from compliance.checklist import AMBER, GREEN, RED, EvidenceLink, Point, Scope
from compliance.thresholds import MAX_EXAMPLES, MIN_RETENTION_DAYS, MIN_RETENTION_YEARS, RETENTION_JOB
from core.models import JobRun
from passport.models import Battery
from passport.snapshots.ingest import retention_years
from passport.snapshots.models import LegalHold, Snapshot
from passport.snapshots.selectors import SHRED_GRACE_HOURS


def _plus(column: str, delta: timedelta) -> ExpressionWrapper:
    return ExpressionWrapper(
        F(column) + Value(delta, output_field=DurationField()), output_field=DateTimeField()
    )


def _snapshot_figures(scope: Scope, at: datetime) -> dict[str, Any]:
    grace = timedelta(hours=SHRED_GRACE_HOURS)
    held = Q(Exists(LegalHold.objects.active().covering(OuterRef("pk"), OuterRef("battery_id"))))
    sealed = Q(shredded_at__isnull=True)
    return Snapshot.objects.filter(scope.snapshot_filter()).aggregate(
        total=Count("id"),
        sealed=Count("id", filter=sealed),
        shredded=Count("id", filter=~sealed),
        earliest_end=Min("retention_until", filter=sealed),
        latest_end=Max("retention_until", filter=sealed),
        held=Count("id", filter=sealed & held),
        overdue=Count("id", filter=sealed & Q(retention_until__lte=at - grace) & ~held),
        due=Count("id", filter=sealed & Q(retention_until__lte=at, retention_until__gt=at - grace) & ~held),
        short=Count(
            "id", filter=Q(retention_until__lt=_plus("captured_at", timedelta(days=MIN_RETENTION_DAYS)))
        ),
        premature=Count("id", filter=~sealed & Q(shredded_at__lt=F("retention_until"))),
        late=Count("id", filter=~sealed & Q(shredded_at__gt=_plus("retention_until", grace))),
    )


def evaluate(scope: Scope, at: datetime) -> Point:
    """Red: a payload past retention (and its grace), not held, still stored; a retention shorter than
    8 years; a payload shredded before its retention ended. Amber: shredding done late, or packs in use
    with no BMS data on record. Green otherwise."""
    figures = _snapshot_figures(scope, at)
    in_scope = Q(scope.battery_filter("battery__")) | Q(
        Exists(Snapshot.objects.filter(scope.snapshot_filter(), battery=OuterRef("battery")))
    )
    holds = LegalHold.objects.active().filter(in_scope)
    hold_totals = holds.aggregate(count=Count("id"), since=Min("placed_at"))
    held_codes = list(
        holds.order_by("battery__code").values_list("battery__code", flat=True).distinct()[:MAX_EXAMPLES]
    )
    packs = (
        Battery.objects.filter(scope.battery_filter(), product_type="P")
        .exclude(status=Battery.Status.REGISTERED)
        .aggregate(
            count=Count("id"),
            # A re-coded unit keeps the history recorded under its original code.
            without=Count(
                "id",
                filter=~Q(Exists(Snapshot.objects.filter(battery=OuterRef("pk"))))
                & ~Q(Exists(Snapshot.objects.filter(battery=OuterRef("original_id")))),
            ),
        )
    )
    last_run = (
        JobRun.objects.filter(job=RETENTION_JOB)
        .order_by("-started_at")
        .values("status", "started_at", "finished_at")
        .first()
    )
    years = retention_years()
    numbers = {
        "snapshots": figures["total"],
        "sealed": figures["sealed"],
        "shredded": figures["shredded"],
        "retained_until_earliest": figures["earliest_end"],
        "retained_until_latest": figures["latest_end"],
        "under_legal_hold": figures["held"],
        "legal_holds_in_force": hold_totals["count"],
        "shredding_overdue": figures["overdue"],
        "shredding_due_within_grace": figures["due"],
        "shredded_late": figures["late"],
        "shredded_before_retention_end": figures["premature"],
        "retention_shorter_than_minimum": figures["short"],
        "retention_years_setting": years,
        "packs_in_use": packs["count"],
        "packs_without_bms_data": packs["without"],
        "grace_hours": SHRED_GRACE_HOURS,
        "retention_job_last_run": last_run["started_at"] if last_run else None,
        "retention_job_last_status": last_run["status"] if last_run else None,
    }
    findings: list[str] = []
    if figures["overdue"]:
        findings.append(
            _("Payloads past their retention by more than %(hours)d hours and not shredded: %(count)d.")
            % {"count": figures["overdue"], "hours": SHRED_GRACE_HOURS}
        )
    if figures["short"]:
        findings.append(
            _("Snapshots set to be kept less than %(years)d years after capture: %(count)d.")
            % {"count": figures["short"], "years": MIN_RETENTION_YEARS}
        )
    if figures["premature"]:
        findings.append(
            _("Payloads shredded before their retention ended: %(count)d.") % {"count": figures["premature"]}
        )
    if figures["late"]:
        findings.append(
            _("Payloads shredded more than %(hours)d hours after their retention ended: %(count)d.")
            % {"count": figures["late"], "hours": SHRED_GRACE_HOURS}
        )
    if packs["without"]:
        findings.append(
            _("Packs in use with no BMS data on record: %(count)d of %(packs)d.")
            % {"count": packs["without"], "packs": packs["count"]}
        )
    if figures["overdue"] or figures["short"] or figures["premature"] or years < MIN_RETENTION_YEARS:
        status, rule_code = RED, "RETENTION_BREACHED"
        rule = _(
            "Red: a payload is past its retention by more than %(hours)d hours with no hold and still "
            "stored, was shredded early, or is kept less than %(years)d years."
        ) % {"hours": SHRED_GRACE_HOURS, "years": MIN_RETENTION_YEARS}
    elif figures["late"] or packs["without"]:
        status, rule_code = AMBER, "RETENTION_ATTENTION"
        rule = _(
            "Amber: retention is respected, but some payloads were shredded late or some packs have no "
            "BMS data on record."
        )
    else:
        status, rule_code = GREEN, "RETENTION_OK"
        rule = _(
            "Green: every snapshot is kept at least %(years)d years, holds are respected and expired "
            "payloads were shredded within %(hours)d hours."
        ) % {"years": MIN_RETENTION_YEARS, "hours": SHRED_GRACE_HOURS}
    if figures["sealed"]:
        summary = _(
            "Snapshots stored: %(sealed)d, retained until between %(first)s and %(last)s; under legal hold: "
            "%(held)d; shredded: %(shredded)d."
        ) % {
            "sealed": figures["sealed"],
            "first": f"{figures['earliest_end']:%Y-%m-%d}",
            "last": f"{figures['latest_end']:%Y-%m-%d}",
            "held": figures["held"],
            "shredded": figures["shredded"],
        }
    elif figures["total"]:
        summary = _("Every snapshot (%(count)d) has been shredded after its retention.") % {
            "count": figures["total"]
        }
    else:
        summary = _("No BMS snapshots on record in scope.")
    evidence = [
        EvidenceLink(
            _("Retention report"), "passport:retention", query=(("organisation", scope.organisation.pk),)
        )
    ] + [
        EvidenceLink(_("Legal holds on %(code)s") % {"code": code}, "passport:battery-holds", (code,))
        for code in held_codes
    ]
    return Point(
        number=3,
        key="retention",
        title=_("BMS data retained at least 8 years"),
        status=status,
        summary=summary,
        rule=rule,
        rule_code=rule_code,
        figures=numbers,
        findings=tuple(findings),
        evidence=tuple(evidence),
    )
