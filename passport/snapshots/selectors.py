"""Reads of BMS snapshots: history by tier, flags, thermal events, certifications, retention figures.

Other apps (custody) ask here: `snapshots_for_battery` and `thermal_events_on_record`. Nothing here
decrypts a payload; that happens only in `passport.snapshots.telemetry.read_raw_telemetry`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import ExtractYear
from django.utils import timezone

from accounts.models import Organisation
from passport import access
from passport.attributes import AUTHORITY, LEGITIMATE_INTEREST, PUBLIC
from passport.models import Battery
from passport.snapshots.models import (
    BatterySnapshotSummary,
    Certification,
    LabDesignation,
    LegalHold,
    Snapshot,
    SnapshotFlag,
    SnapshotShred,
)

# The history chart and table show at most this many of the latest snapshots.
HISTORY_LIMIT = 500
TIMELINE_LIMIT = 200


def snapshots_for_battery(
    battery: Battery | int,
    *,
    captured_from: datetime | None = None,
    captured_until: datetime | None = None,
) -> QuerySet[Snapshot]:
    """The battery's snapshots in capture order, metadata only (the payload stays sealed).

    `captured_until` is exclusive. Scope by reader with `.visible_to(user)` when the rows are shown.
    """
    battery_id = battery if isinstance(battery, int) else battery.pk
    snapshots = Snapshot.objects.filter(battery_id=battery_id)
    if captured_from is not None:
        snapshots = snapshots.filter(captured_at__gte=captured_from)
    if captured_until is not None:
        snapshots = snapshots.filter(captured_at__lt=captured_until)
    return snapshots.order_by("captured_at", "id")


def _event_key(event: dict[str, Any]) -> tuple[str, str]:
    return (str(event.get("started_at")), str(event.get("kind")))


def thermal_events_of(battery: Battery | int) -> list[dict[str, Any]]:
    """The battery's distinct thermal events, oldest first (one reported by several snapshots counts once)."""
    battery_id = battery if isinstance(battery, int) else battery.pk
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    rows = (
        Snapshot.objects.filter(battery_id=battery_id, thermal_event_count__gt=0)
        .order_by("captured_at", "id")
        .values_list("id", "thermal_events")
    )
    for snapshot_id, events in rows:
        for event in events:
            seen.setdefault(_event_key(event), {**event, "snapshot_id": snapshot_id})
    return sorted(seen.values(), key=lambda event: str(event.get("started_at")))


def thermal_events_on_record(battery: Battery | int) -> int:
    """How many distinct thermal events the battery's signed snapshots record (0: none on record).

    One query; an event that several snapshots report (same start and kind) counts once.
    """
    from passport.snapshots.evaluation import thermal_event_counts

    battery_id = battery if isinstance(battery, int) else battery.pk
    return thermal_event_counts([battery_id]).get(battery_id, 0)


def faults_of(battery: Battery | int, *, limit: int = TIMELINE_LIMIT) -> list[dict[str, Any]]:
    """The battery's distinct fault records (code, time, severity), newest first, at most `limit`."""
    battery_id = battery if isinstance(battery, int) else battery.pk
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    rows = (
        Snapshot.objects.filter(battery_id=battery_id, fault_count__gt=0)
        .order_by("-captured_at", "-id")
        .values_list("id", "faults")[: limit * 4]
    )
    for snapshot_id, faults in rows:
        for fault in faults:
            seen.setdefault(
                (str(fault.get("code")), str(fault.get("at"))), {**fault, "snapshot_id": snapshot_id}
            )
    return sorted(seen.values(), key=lambda fault: str(fault.get("at")), reverse=True)[:limit]


def flag_counts(battery: Battery | int) -> dict[str, int]:
    """Flags on the battery's snapshots by severity (one query)."""
    battery_id = battery if isinstance(battery, int) else battery.pk
    counts = Counter(
        dict(
            SnapshotFlag.objects.filter(battery_id=battery_id)
            .values_list("severity")
            .annotate(n=Count("id"))
            .values_list("severity", "n")
        )
    )
    return {severity: counts.get(severity, 0) for severity in SnapshotFlag.Severity.values}


@dataclass(frozen=True)
class HistoryPoint:
    """One snapshot as the chart and table show it."""

    id: int
    captured_at: datetime
    soc_pct: float
    soh_pct: float
    cycle_count: int
    pack_voltage_v: float
    cell_voltage_min_v: float
    cell_voltage_max_v: float
    cell_temp_min_c: float
    cell_temp_max_c: float
    fault_count: int
    thermal_event_count: int
    device_id: str
    uploaded_by: str
    is_shredded: bool
    flags: tuple[SnapshotFlag, ...] = ()
    certified: bool = False


@dataclass(frozen=True)
class SnapshotHistory:
    """What a reader of a given tier may see of a battery's BMS history."""

    tier: str
    snapshot_count: int
    flag_counts: dict[str, int]
    points: tuple[HistoryPoint, ...] = ()
    faults: tuple[dict[str, Any], ...] = ()
    thermal_events: tuple[dict[str, Any], ...] = ()
    certifications: tuple[Certification, ...] = ()
    first_captured_at: datetime | None = None
    last_captured_at: datetime | None = None
    certification_count: int = 0
    thermal_event_count: int = 0
    flags_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def detailed(self) -> bool:
        return self.tier in (LEGITIMATE_INTEREST, AUTHORITY)

    @property
    def flag_total(self) -> int:
        return sum(self.flag_counts.values())

    @property
    def truncated(self) -> bool:
        return self.snapshot_count > len(self.points)


def summary_of(battery: Battery) -> BatterySnapshotSummary:
    """The battery's history counts (loaded with the battery by `for_passport`; an empty one if none)."""
    try:
        return battery.snapshot_summary
    except BatterySnapshotSummary.DoesNotExist:
        return BatterySnapshotSummary(battery=battery)


def history_for(
    *, battery: Battery, user: Any, at: datetime | None = None, tier: str | None = None
) -> SnapshotHistory:
    """The BMS history of `battery` for `user`'s tier (or `tier`, if known).

    The public tier gets the counts of the summary row, with no query beyond the battery's own;
    the legitimate-interest and authority tiers get the snapshots, flags, timelines and certifications.
    """
    tier = tier or access.tier_for(battery, user, at=at)
    summary = summary_of(battery)
    if tier == PUBLIC or not summary.snapshot_count:
        return SnapshotHistory(
            tier=tier,
            snapshot_count=summary.snapshot_count,
            flag_counts=summary.flag_counts,
            first_captured_at=summary.first_captured_at,
            last_captured_at=summary.last_captured_at,
            certification_count=summary.certification_count,
            thermal_event_count=summary.thermal_event_count,
        )
    thermal = thermal_events_of(battery)
    latest = list(
        Snapshot.objects.filter(battery=battery)
        .select_related("uploaded_by")
        .order_by("-captured_at", "-id")[:HISTORY_LIMIT]
    )
    latest.reverse()
    flags_by_snapshot: dict[int, list[SnapshotFlag]] = {}
    rule_counts: Counter[str] = Counter()
    for flag in SnapshotFlag.objects.filter(battery=battery).order_by("snapshot_id", "rule_id", "id"):
        flags_by_snapshot.setdefault(flag.snapshot_id, []).append(flag)
        rule_counts[flag.rule_id] += 1
    certifications = tuple(
        Certification.objects.filter(battery=battery).select_related("lab", "snapshot").order_by("-tested_at")
    )
    certified = {certification.snapshot_id for certification in certifications}
    points = tuple(
        HistoryPoint(
            id=snapshot.pk,
            captured_at=snapshot.captured_at,
            soc_pct=snapshot.soc_pct,
            soh_pct=snapshot.soh_pct,
            cycle_count=snapshot.cycle_count,
            pack_voltage_v=snapshot.pack_voltage_v,
            cell_voltage_min_v=snapshot.cell_voltage_min_v,
            cell_voltage_max_v=snapshot.cell_voltage_max_v,
            cell_temp_min_c=snapshot.cell_temp_min_c,
            cell_temp_max_c=snapshot.cell_temp_max_c,
            fault_count=snapshot.fault_count,
            thermal_event_count=snapshot.thermal_event_count,
            device_id=snapshot.device_id,
            uploaded_by=snapshot.uploaded_by.name,
            is_shredded=snapshot.is_shredded,
            flags=tuple(flags_by_snapshot.get(snapshot.pk, ())),
            certified=snapshot.pk in certified,
        )
        for snapshot in latest
    )
    return SnapshotHistory(
        tier=tier,
        snapshot_count=summary.snapshot_count,
        flag_counts=summary.flag_counts,
        points=points,
        faults=tuple(faults_of(battery)),
        thermal_events=tuple(thermal),
        certifications=certifications,
        first_captured_at=summary.first_captured_at,
        last_captured_at=summary.last_captured_at,
        certification_count=len(certifications),
        thermal_event_count=len(thermal),
        flags_by_rule=dict(rule_counts),
    )


def lab_designated_at(lab: Organisation, at: datetime) -> LabDesignation | None:
    """The designation under which `lab` may certify a test made at `at`, or None."""
    return (
        LabDesignation.objects.filter(lab=lab, valid_from__lte=at)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .exclude(withdrawals__effective_at__lte=at)
        .order_by("-valid_from", "-id")
        .first()
    )


def active_holds_for(battery: Battery) -> QuerySet[LegalHold]:
    return LegalHold.objects.active().filter(battery=battery).select_related("snapshot", "placed_by")


@dataclass(frozen=True)
class RetentionRow:
    """Snapshots retained until a given year."""

    year: int
    count: int
    earliest: datetime
    latest: datetime


@dataclass(frozen=True)
class RetentionReport:
    """An organisation's snapshots: kept until when, what is held, whether shredding was on time."""

    organisation: Organisation | None
    total: int
    sealed: int
    shredded: int
    shredded_late: int
    overdue: int
    held_snapshots: int
    by_year: tuple[RetentionRow, ...]
    holds: tuple[LegalHold, ...]
    generated_at: datetime


# Shredding is "on time" when done within this many hours of the end of retention (the job runs daily).
SHRED_GRACE_HOURS = 48


def retention_report(*, organisation: Organisation | None, user: Any) -> RetentionReport:
    """What the organisation's snapshots (reported by it, or of batteries it made or holds) are kept until."""
    now = timezone.now()
    snapshots = Snapshot.objects.visible_to(user)
    if organisation is not None:
        snapshots = snapshots.filter(
            Q(uploaded_by=organisation)
            | Q(battery__oem=organisation)
            | Q(battery__current_custodian=organisation)
        )
    totals = snapshots.aggregate(
        total=Count("id"),
        sealed=Count("id", filter=Q(shredded_at__isnull=True)),
        shredded=Count("id", filter=Q(shredded_at__isnull=False)),
    )
    late = SnapshotShred.objects.filter(snapshot__in=snapshots.values("pk")).filter(
        shredded_at__gt=_plus_hours("retention_until", SHRED_GRACE_HOURS)
    )
    held = snapshots.under_hold()
    overdue = (
        snapshots.filter(
            shredded_at__isnull=True, retention_until__lte=now - timedelta(hours=SHRED_GRACE_HOURS)
        )
        .not_under_hold()
        .count()
    )
    by_year = tuple(
        RetentionRow(year=row["year"], count=row["count"], earliest=row["earliest"], latest=row["latest"])
        for row in snapshots.filter(shredded_at__isnull=True)
        .annotate(year=ExtractYear("retention_until"))
        .values("year")
        .annotate(count=Count("id"), earliest=Min("retention_until"), latest=Max("retention_until"))
        .order_by("year")
    )
    holds = LegalHold.objects.visible_to(user).active().select_related("battery", "snapshot", "placed_by")
    if organisation is not None:
        holds = holds.filter(
            Q(battery__oem=organisation)
            | Q(battery__current_custodian=organisation)
            | Q(battery__snapshots__uploaded_by=organisation)
        ).distinct()
    return RetentionReport(
        organisation=organisation,
        total=totals["total"],
        sealed=totals["sealed"],
        shredded=totals["shredded"],
        shredded_late=late.count(),
        overdue=overdue,
        held_snapshots=held.count(),
        by_year=by_year,
        holds=tuple(holds.order_by("-placed_at")[:200]),
        generated_at=now,
    )


def _plus_hours(column: str, hours: int) -> ExpressionWrapper:
    return ExpressionWrapper(
        F(column) + Value(timedelta(hours=hours), output_field=DurationField()), output_field=DateTimeField()
    )
