"""Plausibility flags kept current: the whole history of every affected battery is re-evaluated.

After an insert, the affected batteries are those that received snapshots and those whose snapshots
share a measurement (shape) hash with a new one (the copy is flagged on both sides). For all of them,
set-based: one query for the battery contexts, one for the facts of their whole histories, one indexed
semi-join for shape hashes found on other batteries, one for the stored flags; then only the flags
that changed are deleted and inserted. Late arrivals re-order the history, so neighbours' flags move
with them. The message of a flag is not stored: it is rendered when read.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef
from django.utils import timezone

from passport.models import Battery, BatteryModel
from passport.selectors import forget_public_page
from passport.snapshots.models import BatterySnapshotSummary, Certification, Snapshot, SnapshotFlag
from passport.snapshots.plausibility import BatteryContext, Flag, SnapshotFacts, evaluate_history

# SnapshotFacts fields in declaration order, read straight from the snapshot columns.
_FACT_COLUMNS = (
    "id",
    "captured_at",
    "id",  # received_seq: the database id orders snapshots captured at the same instant
    "device_id",
    "sequence",
    "soc_pct",
    "soh_pct",
    "cycle_count",
    "throughput_kwh",
    "pack_voltage_v",
    "cell_voltage_min_v",
    "cell_voltage_max_v",
    "cell_temp_min_c",
    "cell_temp_max_c",
    "payload_hash",
    "shape_hash",
    "cell_count",
    "cell_voltage_sum_v",
    "cells_fingerprint",
    "alarms",
    "soh_recalibrated",
    "thermal_event_count",
    "latest_event_at",
)


def _flag_key(snapshot_id: int, rule_id: str, severity: str, details: Any) -> tuple[int, str, str, str]:
    return (snapshot_id, rule_id, severity, json.dumps(details, sort_keys=True, default=str))


def _context(window_min: Any, window_max: Any, configuration: str | None) -> BatteryContext:
    series = BatteryModel(configuration=configuration).series_count if configuration else None
    return BatteryContext(
        cell_voltage_min_v=window_min, cell_voltage_max_v=window_max, cells_in_series=series
    )


def battery_contexts(
    battery_ids: Iterable[int], *, lock: bool = False
) -> dict[int, tuple[str, BatteryContext]]:
    """Each battery's code and what its model says (window, series count), in one query.

    With `lock`, the battery rows are locked (in id order) until the transaction ends, so that two
    ingests re-evaluate the same battery one after the other, the second seeing the first's rows.
    """
    batteries = Battery.objects.filter(pk__in=sorted(set(battery_ids))).order_by("pk")
    if lock:
        batteries = batteries.select_for_update(of=("self",))
    rows = batteries.values_list(
        "pk",
        "code",
        "battery_model__cell_voltage_min_v",
        "battery_model__cell_voltage_max_v",
        "battery_model__configuration",
    )
    return {pk: (code, _context(low, high, configuration)) for pk, code, low, high, configuration in rows}


def _histories(ids: list[int]) -> dict[int, list[SnapshotFacts]]:
    histories: dict[int, list[SnapshotFacts]] = defaultdict(list)
    for row in (
        Snapshot.objects.filter(battery_id__in=ids).order_by().values_list("battery_id", *_FACT_COLUMNS)
    ):
        histories[row[0]].append(SnapshotFacts(*row[1:]))
    return histories


def _duplicates(ids: list[int]) -> dict[int, frozenset[str]]:
    """Shape hashes of these batteries' snapshots that other batteries have too (one indexed semi-join)."""
    elsewhere = Snapshot.objects.filter(shape_hash=OuterRef("shape_hash")).exclude(
        battery_id=OuterRef("battery_id")
    )
    found: dict[int, set[str]] = defaultdict(set)
    for battery_id, shape_hash in (
        Snapshot.objects.filter(Exists(elsewhere), battery_id__in=ids)
        .order_by()
        .values_list("battery_id", "shape_hash")
    ):
        found[battery_id].add(shape_hash)
    return {battery_id: frozenset(hashes) for battery_id, hashes in found.items()}


def evaluate_batteries(battery_ids: Iterable[int]) -> dict[int, dict[int, list[Flag]]]:
    """The flags every snapshot of these batteries should carry now, battery by battery."""
    ids = sorted(set(battery_ids))
    if not ids:
        return {}
    contexts = battery_contexts(ids)
    duplicates = _duplicates(ids)
    return {
        battery_id: evaluate_history(
            contexts[battery_id][1], history, duplicates_elsewhere=duplicates.get(battery_id, frozenset())
        )
        for battery_id, history in _histories(ids).items()
    }


def reevaluate_batteries(battery_ids: Iterable[int]) -> dict[str, int]:
    """Bring the stored flags and summaries of these batteries in line with their whole histories.

    Runs inside the caller's transaction when there is one (no savepoint of its own: any error
    propagates and the caller's transaction rolls back whole).
    """
    ids = sorted(set(battery_ids))
    if not ids:
        return {"batteries": 0, "added": 0, "removed": 0}
    with transaction.atomic(savepoint=False):
        return _reevaluate(ids)


def _reevaluate(ids: list[int]) -> dict[str, int]:
    contexts = battery_contexts(ids, lock=True)
    histories = _histories(ids)
    duplicates = _duplicates(ids)
    wanted: dict[tuple[int, str, str, str], tuple[int, Flag]] = {}
    severities: dict[int, Counter[str]] = defaultdict(Counter)
    for battery_id, history in histories.items():
        flags_by_snapshot = evaluate_history(
            contexts[battery_id][1], history, duplicates_elsewhere=duplicates.get(battery_id, frozenset())
        )
        for snapshot_id, flags in flags_by_snapshot.items():
            for flag in flags:
                key = _flag_key(int(snapshot_id), flag.rule_id, str(flag.severity), flag.details)
                if key not in wanted:
                    wanted[key] = (battery_id, flag)
                    severities[battery_id][str(flag.severity)] += 1
    stale: list[int] = []
    present: set[tuple[int, str, str, str]] = set()
    for flag_id, snapshot_id, rule_id, severity, details in (
        SnapshotFlag.objects.filter(battery_id__in=ids)
        .order_by()
        .values_list("id", "snapshot_id", "rule_id", "severity", "details")
    ):
        key = _flag_key(snapshot_id, rule_id, severity, details)
        if key in wanted and key not in present:
            present.add(key)
        else:
            stale.append(flag_id)
    if stale:
        SnapshotFlag.objects.filter(pk__in=stale).delete()
    now = timezone.now()
    new = [
        SnapshotFlag(
            snapshot_id=key[0],
            battery_id=battery_id,
            rule_id=flag.rule_id,
            severity=str(flag.severity),
            details=flag.details,
            evaluated_at=now,
        )
        for key, (battery_id, flag) in wanted.items()
        if key not in present
    ]
    if new:
        SnapshotFlag.objects.bulk_create(new)
    _write_summaries(ids, histories, severities)
    # Counts, flags or the verdict of each of these batteries may have changed: drop their public pages.
    codes = [contexts[battery_id][0] for battery_id in ids if battery_id in contexts]
    transaction.on_commit(lambda: [forget_public_page(code) for code in codes])
    return {"batteries": len(ids), "added": len(new), "removed": len(stale)}


def reevaluate_after_insert(*, battery_ids: set[int], shape_hashes: set[str]) -> dict[str, int]:
    """Re-evaluate the batteries that received snapshots, and those sharing a measurement hash with them."""
    if not battery_ids:
        return {"batteries": 0, "added": 0, "removed": 0}
    others = (
        Snapshot.objects.filter(shape_hash__in=shape_hashes)
        .exclude(battery_id__in=battery_ids)
        .order_by()
        .values_list("battery_id", flat=True)
        .distinct()
    )
    return reevaluate_batteries(battery_ids | set(others))


_THERMAL_COUNTS_SQL = {
    "postgresql": (
        "SELECT s.battery_id, COUNT(DISTINCT (e.value ->> 'started_at') || '|' || (e.value ->> 'kind')) "
        "FROM passport_snapshot s CROSS JOIN LATERAL jsonb_array_elements(s.thermal_events) AS e(value) "
        "WHERE s.thermal_event_count > 0 AND s.battery_id = ANY(%s) GROUP BY s.battery_id"
    ),
    "sqlite": (
        "SELECT s.battery_id, COUNT(DISTINCT json_extract(e.value, '$.started_at') || '|' "
        "|| json_extract(e.value, '$.kind')) FROM passport_snapshot s, json_each(s.thermal_events) AS e "
        "WHERE s.thermal_event_count > 0 AND s.battery_id IN (SELECT value FROM json_each(%s)) "
        "GROUP BY s.battery_id"
    ),
}


def thermal_event_counts(battery_ids: Iterable[int]) -> dict[int, int]:
    """Distinct thermal events per battery (one reported by several snapshots counts once), one query."""
    ids = sorted(set(battery_ids))
    if not ids:
        return {}
    vendor = connection.vendor
    parameter: Any = ids if vendor == "postgresql" else json.dumps(ids)
    with connection.cursor() as cursor:
        cursor.execute(_THERMAL_COUNTS_SQL[vendor], [parameter])
        return {battery_id: count for battery_id, count in cursor.fetchall()}


def refresh_summaries(battery_ids: Iterable[int]) -> None:
    """Recompute the public counts of these batteries' BMS histories from what is stored."""
    ids = sorted(set(battery_ids))
    if not ids:
        return
    severities: dict[int, Counter[str]] = defaultdict(Counter)
    for battery_id, severity, count in (
        SnapshotFlag.objects.filter(battery_id__in=ids)
        .order_by()
        .values_list("battery_id", "severity")
        .annotate(count=Count("id"))
    ):
        severities[battery_id][severity] = count
    spans = {
        row["battery_id"]: (row["count"], row["first"], row["last"])
        for row in Snapshot.objects.filter(battery_id__in=ids)
        .order_by()
        .values("battery_id")
        .annotate(count=Count("id"), first=Min("captured_at"), last=Max("captured_at"))
    }
    _upsert_summaries(ids, spans, severities)


def _write_summaries(
    ids: list[int], histories: dict[int, list[SnapshotFacts]], severities: dict[int, Counter[str]]
) -> None:
    spans = {
        battery_id: (
            len(history),
            min(facts.captured_at for facts in history),
            max(facts.captured_at for facts in history),
        )
        for battery_id, history in histories.items()
        if history
    }
    _upsert_summaries(ids, spans, severities)


def _upsert_summaries(
    ids: list[int],
    spans: dict[int, tuple[int, datetime | None, datetime | None]],
    severities: dict[int, Counter[str]],
) -> None:
    """Write the summary rows (certifications and distinct thermal events counted here, two queries)."""
    certifications = dict(
        Certification.objects.filter(battery_id__in=ids)
        .order_by()
        .values_list("battery_id")
        .annotate(count=Count("id"))
    )
    thermal = thermal_event_counts(ids)
    now = timezone.now()
    BatterySnapshotSummary.objects.bulk_create(
        [
            BatterySnapshotSummary(
                battery_id=battery_id,
                snapshot_count=spans.get(battery_id, (0, None, None))[0],
                first_captured_at=spans.get(battery_id, (0, None, None))[1],
                last_captured_at=spans.get(battery_id, (0, None, None))[2],
                critical_flags=severities[battery_id]["critical"],
                warning_flags=severities[battery_id]["warning"],
                info_flags=severities[battery_id]["info"],
                thermal_event_count=thermal.get(battery_id, 0),
                certification_count=certifications.get(battery_id, 0),
                updated_at=now,
            )
            for battery_id in ids
        ],
        update_conflicts=True,
        unique_fields=["battery"],
        update_fields=[
            "snapshot_count",
            "first_captured_at",
            "last_captured_at",
            "critical_flags",
            "warning_flags",
            "info_flags",
            "thermal_event_count",
            "certification_count",
            "updated_at",
        ],
    )
