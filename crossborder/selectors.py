"""Reads: the approvals and export log a user may see, and the export figures of the compliance checklist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from accounts.models import Organisation
from crossborder.models import ExportLogEntry, TransferApproval

EXPIRY_WARNING = timedelta(days=30)


def approvals_visible_to(user: Any) -> QuerySet[TransferApproval]:
    """Authorities and platform admins see every approval; others those given or received by their org."""
    return TransferApproval.objects.visible_to(user).select_related(
        "holder", "recipient", "recorded_by", "recorded_by_organisation", "revocation__by_organisation"
    )


def with_status(
    approvals: QuerySet[TransferApproval], status: str, *, at: datetime | None = None
) -> QuerySet[TransferApproval]:
    """Approvals that are pending, in_force, expired or revoked at `at` (default now)."""
    moment = at or timezone.now()
    revoked = Q(revocation__at__lte=moment)
    if status == TransferApproval.Status.REVOKED:
        return approvals.filter(revoked)
    live = approvals.exclude(revoked)
    if status == TransferApproval.Status.PENDING:
        return live.filter(valid_from__gt=moment)
    if status == TransferApproval.Status.EXPIRED:
        return live.filter(valid_until__lt=moment)
    return live.filter(valid_from__lte=moment, valid_until__gte=moment)


def export_log_visible_to(user: Any) -> QuerySet[ExportLogEntry]:
    """Auditors, regulators and platform admins see every entry; an organisation sees the entries where
    it is the actor, the recipient or the data holder."""
    return ExportLogEntry.objects.visible_to(user).select_related(
        "user", "organisation", "holder", "recipient", "approval"
    )


@dataclass(frozen=True)
class ExportSummary:
    """Point 5 of the compliance checklist: approvals, gate decisions and release scans.

    Counts of decisions and scans are since `since`; the `last_*` instants are over all time.
    """

    approvals_in_force: int
    approvals_expiring_within_30_days: int
    allowed: int
    not_required: int
    refused: int
    blocked_scans: int
    passed_scans: int
    last_refusal_at: datetime | None
    last_blocked_at: datetime | None


def export_summary(*, organisation: Organisation | None, since: datetime) -> ExportSummary:
    """Export figures for one organisation (as holder, recipient or actor), or the platform when None."""
    now = timezone.now()
    approvals = TransferApproval.objects.in_force(now)
    entries = ExportLogEntry.objects.all()
    if organisation is not None:
        approvals = approvals.filter(Q(holder=organisation) | Q(recipient=organisation))
        entries = entries.filter(
            Q(organisation=organisation) | Q(recipient=organisation) | Q(holder=organisation)
        )
    counts = entries.filter(at__gte=since).aggregate(
        allowed=Count("id", filter=Q(scanned=False, outcome=ExportLogEntry.Outcome.ALLOWED)),
        not_required=Count("id", filter=Q(scanned=False, outcome=ExportLogEntry.Outcome.NOT_REQUIRED)),
        refused=Count("id", filter=Q(outcome=ExportLogEntry.Outcome.REFUSED)),
        blocked_scans=Count("id", filter=Q(outcome=ExportLogEntry.Outcome.BLOCKED)),
        passed_scans=Count("id", filter=Q(scanned=True) & ~Q(outcome=ExportLogEntry.Outcome.BLOCKED)),
    )
    last = entries.aggregate(
        last_refusal_at=Max("at", filter=Q(outcome=ExportLogEntry.Outcome.REFUSED)),
        last_blocked_at=Max("at", filter=Q(outcome=ExportLogEntry.Outcome.BLOCKED)),
    )
    return ExportSummary(
        approvals_in_force=approvals.count(),
        approvals_expiring_within_30_days=approvals.filter(valid_until__lte=now + EXPIRY_WARNING).count(),
        **counts,
        **last,
    )
