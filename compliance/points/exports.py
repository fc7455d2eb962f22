"""Point 5: nothing leaves unless approved, and no anonymised export carries vehicle or owner identifiers.

Read from the cross-border gate's log (`crossborder.selectors.export_summary`) for the organisation
over the last 30 days: exports allowed under an approval or needing none, refusals, and the scans of
anonymised exports (passed, or blocked because an identifier was still in the file).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils.translation import gettext as _

from compliance.checklist import AMBER, GREEN, RED, EvidenceLink, Point, Scope
from compliance.thresholds import APPROVAL_EXPIRY_WARNING_DAYS, EXPORT_WINDOW_DAYS
from crossborder import selectors as crossborder_selectors

EXPORT_LOG_URL = "crossborder:export-log"


def evaluate(scope: Scope, at: datetime) -> Point:
    """Red: an anonymised export was blocked by the scanner in the window (the scrubber let an identifier
    through; the gate held, but the leak path needs investigating). Amber: a transfer was refused for want
    of an approval (the gate worked, someone tried), or an approval expires within 30 days. Green
    otherwise."""
    since = at - timedelta(days=EXPORT_WINDOW_DAYS)
    summary_row = crossborder_selectors.export_summary(organisation=scope.organisation, since=since)
    figures: dict[str, Any] = {
        "window_days": EXPORT_WINDOW_DAYS,
        "approvals_in_force": summary_row.approvals_in_force,
        "approvals_expiring_soon": summary_row.approvals_expiring_within_30_days,
        "exports_allowed": summary_row.allowed,
        "exports_not_requiring_approval": summary_row.not_required,
        "exports_refused": summary_row.refused,
        "scans_passed": summary_row.passed_scans,
        "scans_blocked": summary_row.blocked_scans,
        "last_refusal_at": summary_row.last_refusal_at,
        "last_blocked_at": summary_row.last_blocked_at,
    }
    findings: list[str] = []
    if summary_row.blocked_scans:
        findings.append(
            _("Anonymised exports blocked because an identifier was found: %(count)d (last on %(day)s).")
            % {"count": summary_row.blocked_scans, "day": _day(summary_row.last_blocked_at)}
        )
    if summary_row.refused:
        findings.append(
            _("Transfers refused for want of a matching approval: %(count)d (last on %(day)s).")
            % {"count": summary_row.refused, "day": _day(summary_row.last_refusal_at)}
        )
    if summary_row.approvals_expiring_within_30_days:
        findings.append(
            _("Approvals expiring within %(days)d days: %(count)d.")
            % {"count": summary_row.approvals_expiring_within_30_days, "days": APPROVAL_EXPIRY_WARNING_DAYS}
        )
    if summary_row.blocked_scans:
        status, rule_code = RED, "EXPORT_SCAN_BLOCKED"
        rule = _(
            "Red: in the last %(days)d days the scanner blocked an anonymised export that still carried a "
            "vehicle or owner identifier: nothing left, but the scrubbing failed and needs investigating."
        ) % {"days": EXPORT_WINDOW_DAYS}
    elif summary_row.refused or summary_row.approvals_expiring_within_30_days:
        status, rule_code = AMBER, "EXPORT_ATTENTION"
        rule = _(
            "Amber: in the last %(days)d days a transfer was refused for want of an approval (the gate "
            "held), or an approval expires within %(expiry)d days."
        ) % {"days": EXPORT_WINDOW_DAYS, "expiry": APPROVAL_EXPIRY_WARNING_DAYS}
    else:
        status, rule_code = GREEN, "EXPORT_OK"
        rule = _(
            "Green: in the last %(days)d days every transfer had its approval or needed none, and every "
            "anonymised export passed the identifier scan."
        ) % {"days": EXPORT_WINDOW_DAYS}
    summary = _(
        "Last %(days)d days: exports under an approval %(allowed)d, needing none %(free)d, refused "
        "%(refused)d; scans passed %(passed)d, blocked %(blocked)d. Approvals in force: %(approvals)d."
    ) % {
        "days": EXPORT_WINDOW_DAYS,
        "allowed": summary_row.allowed,
        "free": summary_row.not_required,
        "refused": summary_row.refused,
        "passed": summary_row.passed_scans,
        "blocked": summary_row.blocked_scans,
        "approvals": summary_row.approvals_in_force,
    }
    day = (("since", f"{since:%Y-%m-%d}"),)
    evidence = [EvidenceLink(_("Export and refusal log, last 30 days"), EXPORT_LOG_URL, query=day)]
    if summary_row.blocked_scans:
        evidence.append(
            EvidenceLink(_("Blocked exports"), EXPORT_LOG_URL, query=(("outcome", "blocked"), *day))
        )
    if summary_row.refused:
        evidence.append(
            EvidenceLink(_("Refused transfers"), EXPORT_LOG_URL, query=(("outcome", "refused"), *day))
        )
    return Point(
        number=5,
        key="exports",
        title=_("No export unless approved; anonymised exports scrubbed of identifiers"),
        status=status,
        summary=summary,
        rule=rule,
        rule_code=rule_code,
        figures=figures,
        findings=tuple(findings),
        evidence=tuple(evidence),
    )


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "—"
