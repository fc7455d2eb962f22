"""The `bms_history` reason of the verification verdict: signed BMS history present, signed and plausible.

The counts come from the battery's `BatterySnapshotSummary` (loaded with the battery by
`for_passport`), so a battery with no snapshot costs no query; one with snapshots costs one: how many
were captured when their key was no longer valid (a revocation dated into the past, an expiry). A report
reads that for a whole chunk of batteries in one query first (`prefetch_unsigned_counts`).
Warnings and critical flags count against the verdict; informational ones (a recorded SOH
recalibration) do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.db import PreparedRows
from passport.models import DeviceKeyRevocation
from passport.snapshots.models import Snapshot
from passport.snapshots.selectors import summary_of
from passport.verdict import FAILED, PASSED, UNAVAILABLE, CheckResult

if TYPE_CHECKING:
    from passport.models import Battery


_UNSIGNED = "_unsigned_snapshots"


def _unsigned_query(battery_id: int) -> QuerySet[Snapshot]:
    """How many of the battery's snapshots were captured when their key was no longer valid (no row when
    none was)."""
    return _unsigned_counts(Snapshot.objects.filter(battery_id=battery_id)).values_list("unsigned")


def _unsigned_counts(snapshots: QuerySet[Snapshot]) -> QuerySet[Snapshot]:
    """Per battery, how many of these snapshots were captured when their key was no longer valid."""
    revoked_then = DeviceKeyRevocation.objects.filter(
        key=OuterRef("device_key_id"), effective_at__lte=OuterRef("captured_at")
    )
    return (
        snapshots.filter(
            Q(Exists(revoked_then))
            | Q(captured_at__lt=F("device_key__valid_from"))
            | Q(device_key__valid_until__isnull=False, captured_at__gte=F("device_key__valid_until"))
        )
        .order_by()
        .values("battery_id")
        .annotate(unsigned=Count("pk"))
    )


def prefetch_unsigned_counts(batteries: Iterable[Battery]) -> None:
    """Read, for many batteries in one query, what `check_bms_history` asks of each (a report's chunk);
    no query when none of them has a snapshot."""
    chunk = [battery for battery in batteries if summary_of(battery).snapshot_count]
    if not chunk:
        return
    snapshots = Snapshot.objects.filter(battery_id__in=[battery.pk for battery in chunk])
    counts = dict(_unsigned_counts(snapshots).values_list("battery_id", "unsigned"))
    for battery in chunk:
        battery.__dict__[_UNSIGNED] = counts.get(battery.pk, 0)


# Prepared: the scan page asks it for every battery with snapshots.
_unsigned_count = PreparedRows(_unsigned_query, placeholders=(-1,))


def check_bms_history(battery: Battery, at: datetime) -> CheckResult:
    """Passed when signed snapshots exist, every signing key was valid at capture, and none is flagged."""
    summary = summary_of(battery)
    count = summary.snapshot_count
    if not count:
        return CheckResult(UNAVAILABLE, _("No signed BMS snapshot is on record for this battery."))
    unsigned = battery.__dict__.get(_UNSIGNED)
    if unsigned is None:
        counted = _unsigned_count.rows(battery.pk)
        unsigned = counted[0][0] if counted else 0
    if unsigned:
        return CheckResult(
            FAILED,
            ngettext(
                "%(count)d snapshot was signed by a key that was not valid when it was captured (revoked or "
                "expired).",
                "%(count)d snapshots were signed by keys that were not valid when they were captured "
                "(revoked or expired).",
                unsigned,
            )
            % {"count": unsigned},
        )
    serious = summary.critical_flags + summary.warning_flags
    if serious:
        return CheckResult(
            FAILED,
            ngettext(
                "%(serious)d plausibility flag (%(critical)d critical) on %(count)d signed snapshots.",
                "%(serious)d plausibility flags (%(critical)d critical) on %(count)d signed snapshots.",
                serious,
            )
            % {"serious": serious, "critical": summary.critical_flags, "count": count},
        )
    return CheckResult(
        PASSED,
        ngettext(
            "%(count)d signed snapshot from %(first)s to %(last)s, none flagged as implausible.",
            "%(count)d signed snapshots from %(first)s to %(last)s, none flagged as implausible.",
            count,
        )
        % {
            "count": count,
            "first": f"{summary.first_captured_at:%Y-%m-%d}",
            "last": f"{summary.last_captured_at:%Y-%m-%d}",
        },
    )
