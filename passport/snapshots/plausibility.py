"""The fabricated-data detector: named plausibility rules over one battery's snapshot history.

`evaluate_history` re-evaluates a battery's whole history on every call, so a snapshot that arrives
late (captured before others already stored) changes the flags of its neighbours: callers re-run it
after each insert and replace the stored flags. It is one pass over the history sorted by capture
time (Timsort is linear on input that is already in order), with O(1) state per step plus two dicts.

Every input field of `SnapshotFacts` is small and meant to be kept in clear beside the encrypted
payload (extremes, counts, a sum and fingerprints instead of the cell list), so re-evaluation never
needs to decrypt a payload. `SnapshotFacts.from_envelope` derives them at ingest.

SOH and the counters are compared between consecutive snapshots of the battery whichever device
reported them (a lab tester's reading must agree with the vehicle's BMS too); sequence numbers and
same-instant duplicates are judged per device.

The thresholds are named constants below, gathered in `Tolerances` so a deployment or a test can
change them; each says why it has the value it has.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from passport.snapshots.schema import SnapshotEnvelope

__all__ = [
    "DEFAULT_TOLERANCES",
    "RULES",
    "BatteryContext",
    "Flag",
    "Rule",
    "Severity",
    "SnapshotFacts",
    "Tolerances",
    "cells_fingerprint",
    "evaluate_history",
    "measurement_shape_hash",
    "message_for",
]

# ---------------------------------------------------------------------------------------------------
# Tolerances
# ---------------------------------------------------------------------------------------------------

# New cells commonly deliver up to about 5% more than rated capacity; a higher SOH is not a real
# measurement. (The schema accepts up to 120 so that this rule, not a refusal, judges the band.)
SOH_MAX_PLAUSIBLE_PCT = 105.0
# BMS SOH estimates wobble by a point or so with temperature and estimator updates; a rise of more
# than 2 points between consecutive snapshots needs a recorded recalibration.
SOH_STEP_RISE_TOLERANCE_PCT = 2.0
# Small rises can be chained to walk SOH up; measured against the lowest SOH since the last
# recalibration (or the last flagged rise), the total may not exceed 5 points.
SOH_CUMULATIVE_RISE_TOLERANCE_PCT = 5.0
# The fastest real duty (DC fast charge then hard driving, taxis and buses) stays under about
# 3 equivalent full cycles per hour; one more cycle is allowed for counter rounding.
CYCLES_PER_HOUR_MAX = 3.0
CYCLE_COUNT_GRACE = 1
# Energy throughput is a monotonic counter; allow 0.1 kWh for rounding in the reported value.
THROUGHPUT_DECREASE_TOLERANCE_KWH = 0.1
# Cell voltage sensing is accurate to a few millivolts; 50 mV outside the chemistry's window is a
# reading no working cell produces.
CELL_WINDOW_TOLERANCE_V = 0.05
# Pack voltage is measured at the terminals, the cells at their tabs: busbar and contactor drops
# under load explain a few percent, not more. With every cell given, within 5% of their sum...
PACK_SUM_TOLERANCE_FRACTION = 0.05
# ...with only the extremes and the series count, within [n * min, n * max] widened by 2%.
PACK_BAND_TOLERANCE_FRACTION = 0.02
# A cell within 50 mV of the window's lower edge is empty: the pack SOC cannot then be above 30%;
# within 50 mV of the upper edge it is full: the SOC cannot be below 70%.
SOC_EDGE_MARGIN_V = 0.05
SOC_NEAR_EMPTY_MAX_PCT = 30.0
SOC_NEAR_FULL_MIN_PCT = 70.0
# Below -50 °C no traction pack reports; above 120 °C a cell is venting, which a snapshot with no
# thermal event and no over-temperature or thermal-runaway alarm cannot be.
TEMPERATURE_PHYSICAL_MIN_C = -50.0
TEMPERATURE_WITHOUT_EVENT_MAX_C = 120.0
# Every BMS raises over-temperature well before 70 °C and never at 40 °C or below; under-temperature
# by -30 °C and never above 5 °C. Between those, alarm thresholds differ between makers.
OVER_TEMPERATURE_ALARM_REQUIRED_C = 70.0
OVER_TEMPERATURE_ALARM_IMPOSSIBLE_C = 40.0
UNDER_TEMPERATURE_ALARM_REQUIRED_C = -30.0
UNDER_TEMPERATURE_ALARM_IMPOSSIBLE_C = 5.0
# Fault and thermal-event times come from the same clock as `captured_at`; five minutes covers a
# snapshot assembled while an event was being logged.
EVENT_CLOCK_SKEW = timedelta(minutes=5)
# With 16 or more cells, not one millivolt of spread is not a measurement (real packs show 5-30 mV).
IDENTICAL_CELLS_MIN_COUNT = 16
# The same cell voltages, to the last digit, at a state of charge 5 points away is not physical.
REPEATED_CELLS_MIN_SOC_CHANGE_PCT = 5.0


@dataclass(frozen=True, slots=True)
class Tolerances:
    """The thresholds the rules apply; the defaults are the named constants of this module."""

    soh_max_plausible_pct: float = SOH_MAX_PLAUSIBLE_PCT
    soh_step_rise_pct: float = SOH_STEP_RISE_TOLERANCE_PCT
    soh_cumulative_rise_pct: float = SOH_CUMULATIVE_RISE_TOLERANCE_PCT
    cycles_per_hour_max: float = CYCLES_PER_HOUR_MAX
    cycle_count_grace: int = CYCLE_COUNT_GRACE
    throughput_decrease_kwh: float = THROUGHPUT_DECREASE_TOLERANCE_KWH
    cell_window_v: float = CELL_WINDOW_TOLERANCE_V
    pack_sum_fraction: float = PACK_SUM_TOLERANCE_FRACTION
    pack_band_fraction: float = PACK_BAND_TOLERANCE_FRACTION
    soc_edge_margin_v: float = SOC_EDGE_MARGIN_V
    soc_near_empty_max_pct: float = SOC_NEAR_EMPTY_MAX_PCT
    soc_near_full_min_pct: float = SOC_NEAR_FULL_MIN_PCT
    temperature_physical_min_c: float = TEMPERATURE_PHYSICAL_MIN_C
    temperature_without_event_max_c: float = TEMPERATURE_WITHOUT_EVENT_MAX_C
    over_temperature_alarm_required_c: float = OVER_TEMPERATURE_ALARM_REQUIRED_C
    over_temperature_alarm_impossible_c: float = OVER_TEMPERATURE_ALARM_IMPOSSIBLE_C
    under_temperature_alarm_required_c: float = UNDER_TEMPERATURE_ALARM_REQUIRED_C
    under_temperature_alarm_impossible_c: float = UNDER_TEMPERATURE_ALARM_IMPOSSIBLE_C
    event_clock_skew: timedelta = EVENT_CLOCK_SKEW
    identical_cells_min_count: int = IDENTICAL_CELLS_MIN_COUNT
    repeated_cells_min_soc_change_pct: float = REPEATED_CELLS_MIN_SOC_CHANGE_PCT


DEFAULT_TOLERANCES = Tolerances()

# ---------------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------------


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Rule:
    """A named plausibility rule: its id, severity, title and message templates (by `details["kind"]`)."""

    id: str
    severity: Severity
    title: Promise
    messages: Mapping[str, Promise]

    def render(self, details: Mapping[str, Any]) -> str:
        """The flag's message in the active language, filled from its details."""
        template = self.messages.get(details.get("kind", "default"))
        if template is None:  # not `or`: truth-testing a lazy string translates it
            template = self.messages["default"]
        return str(template) % details


@dataclass(frozen=True, slots=True)
class Flag:
    """One rule tripped by one snapshot; store `rule_id`, `severity` and the JSON-safe `details`.

    The message is rendered when read, in the reader's language, from the rule and the details.
    """

    rule_id: str
    severity: Severity
    details: dict[str, Any]

    @property
    def message(self) -> str:
        return RULES[self.rule_id].render(self.details)


def _rule(rule_id: str, severity: Severity, title: Promise, **messages: Promise) -> Rule:
    return Rule(rule_id, severity, title, MappingProxyType(messages))


_RULE_LIST = (
    _rule(
        "SOH_OUT_OF_RANGE",
        Severity.CRITICAL,
        _("State of health out of range"),
        above=_("SOH %(soh_pct)s%% is above the plausible maximum of %(limit)s%%."),
        below=_("SOH %(soh_pct)s%% is below zero."),
    ),
    _rule(
        "SOH_RISING",
        Severity.CRITICAL,
        _("State of health rising"),
        step=_(
            "SOH rose from %(previous_soh_pct)s%% to %(soh_pct)s%% since the previous snapshot, more than "
            "the %(tolerance)s points allowed without a recorded recalibration."
        ),
        cumulative=_(
            "SOH climbed to %(soh_pct)s%% from a low of %(lowest_soh_pct)s%%, more than the %(tolerance)s "
            "points allowed in total without a recorded recalibration."
        ),
    ),
    _rule(
        "SOH_RECALIBRATED",
        Severity.INFO,
        _("State of health recalibrated"),
        default=_("SOH was recalibrated (%(previous_soh_pct)s%% before, %(soh_pct)s%% now)."),
        first=_("SOH was recalibrated (%(soh_pct)s%% now)."),
    ),
    _rule(
        "CYCLES_DECREASING",
        Severity.CRITICAL,
        _("Cycle count decreasing"),
        default=_("The cycle count fell from %(previous_cycle_count)s to %(cycle_count)s."),
    ),
    _rule(
        "CYCLES_RISING_TOO_FAST",
        Severity.WARNING,
        _("Cycle count rising too fast"),
        default=_(
            "The cycle count rose by %(gain)s in %(hours)s hours, more than the %(limit)s cycles per hour "
            "a battery can do."
        ),
    ),
    _rule(
        "THROUGHPUT_DECREASING",
        Severity.CRITICAL,
        _("Energy throughput decreasing"),
        default=_(
            "The energy throughput fell from %(previous_throughput_kwh)s kWh to %(throughput_kwh)s kWh."
        ),
    ),
    _rule(
        "CELL_VOLTAGE_OUTSIDE_WINDOW",
        Severity.CRITICAL,
        _("Cell voltage outside the chemistry's window"),
        default=_(
            "Cell voltages from %(cell_voltage_min_v)s V to %(cell_voltage_max_v)s V leave the chemistry's "
            "window of %(window_min_v)s V to %(window_max_v)s V."
        ),
    ),
    _rule(
        "CELL_COUNT_MISMATCH",
        Severity.WARNING,
        _("Cell count differs from the battery model"),
        default=_(
            "The snapshot lists %(cell_count)s cell voltages; the battery has %(cells_in_series)s in series."
        ),
    ),
    _rule(
        "PACK_VOLTAGE_MISMATCH",
        Severity.WARNING,
        _("Pack voltage inconsistent with the cells"),
        sum=_(
            "The pack voltage %(pack_voltage_v)s V is more than %(tolerance_pct)s%% away from the sum of the "
            "cell voltages, %(expected_v)s V."
        ),
        band=_(
            "The pack voltage %(pack_voltage_v)s V is outside %(low_v)s V to %(high_v)s V, the range that "
            "%(cells_in_series)s cells in series between the reported extremes allow."
        ),
    ),
    _rule(
        "SOC_OUT_OF_RANGE",
        Severity.CRITICAL,
        _("State of charge out of range"),
        default=_("SOC %(soc_pct)s%% is outside 0%% to 100%%."),
    ),
    _rule(
        "SOC_INCONSISTENT_WITH_CELLS",
        Severity.WARNING,
        _("State of charge inconsistent with cell voltages"),
        empty=_(
            "SOC %(soc_pct)s%% is reported while a cell is at %(cell_voltage_v)s V, at the empty end of "
            "the chemistry's window (at most %(limit)s%% is possible)."
        ),
        full=_(
            "SOC %(soc_pct)s%% is reported while a cell is at %(cell_voltage_v)s V, at the full end of "
            "the chemistry's window (at least %(limit)s%% is expected)."
        ),
    ),
    _rule(
        "TEMPERATURE_IMPOSSIBLE",
        Severity.CRITICAL,
        _("Impossible temperature"),
        cold=_(
            "A cell temperature of %(temperature_c)s °C is below the %(limit)s °C no traction pack reports."
        ),
        hot=_(
            "A cell temperature of %(temperature_c)s °C is above %(limit)s °C with no thermal event and no "
            "over-temperature alarm in the same snapshot."
        ),
    ),
    _rule(
        "TEMPERATURE_ALARM_INCONSISTENT",
        Severity.WARNING,
        _("Temperature inconsistent with the alarm flags"),
        over_missing=_(
            "The hottest cell is at %(temperature_c)s °C but the over-temperature alarm is off "
            "(every BMS raises it by %(limit)s °C)."
        ),
        over_spurious=_(
            "The over-temperature alarm is on but the hottest cell is at %(temperature_c)s °C "
            "(no BMS raises it at %(limit)s °C or below)."
        ),
        under_missing=_(
            "The coldest cell is at %(temperature_c)s °C but the under-temperature alarm is off "
            "(every BMS raises it by %(limit)s °C)."
        ),
        under_spurious=_(
            "The under-temperature alarm is on but the coldest cell is at %(temperature_c)s °C "
            "(no BMS raises it above %(limit)s °C)."
        ),
    ),
    _rule(
        "TIMESTAMPS_OUT_OF_ORDER",
        Severity.WARNING,
        _("Timestamps out of order"),
        sequence=_(
            "Device %(device_id)s numbered this snapshot %(sequence)s, not after %(previous_sequence)s, "
            "the number of its earlier snapshot."
        ),
        same_instant=_("Device %(device_id)s sent another, different snapshot for the same instant."),
        event_after_capture=_(
            "The snapshot records an event at %(event_at)s, after it was captured at %(captured_at)s."
        ),
    ),
    _rule(
        "CELLS_IDENTICAL",
        Severity.WARNING,
        _("Identical cell voltages"),
        default=_(
            "All %(cell_count)s cells read exactly %(cell_voltage_v)s V; real packs always show some spread."
        ),
    ),
    _rule(
        "CELLS_REPEATED",
        Severity.CRITICAL,
        _("Cell voltages repeated"),
        default=_(
            "The cell voltages are identical to those of an earlier snapshot taken at "
            "%(other_soc_pct)s%% SOC, although this one reports %(soc_pct)s%%."
        ),
    ),
    _rule(
        "PAYLOAD_DUPLICATED_ACROSS_BATTERIES",
        Severity.CRITICAL,
        _("Data copied from another battery"),
        payload=_("Another battery has a snapshot with exactly this payload."),
        measurements=_("Another battery has a snapshot with exactly these measurements."),
    ),
)

RULES: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in _RULE_LIST})


def message_for(rule_id: str, details: Mapping[str, Any]) -> str:
    """Re-render a stored flag's message in the active language."""
    return RULES[rule_id].render(details)


# ---------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------


def _as_float(value: float | Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class BatteryContext:
    """What the battery's model says: the chemistry's cell-voltage window and the series cell count."""

    cell_voltage_min_v: float | Decimal | None = None
    cell_voltage_max_v: float | Decimal | None = None
    cells_in_series: int | None = None

    def __post_init__(self) -> None:
        # Decimals from the database become floats once here, not in every comparison.
        object.__setattr__(self, "cell_voltage_min_v", _as_float(self.cell_voltage_min_v))
        object.__setattr__(self, "cell_voltage_max_v", _as_float(self.cell_voltage_max_v))


@dataclass(frozen=True, slots=True)
class SnapshotFacts:
    """What the rules need of one stored snapshot (all of it kept in clear beside the encrypted payload).

    `id` is the caller's JSON-safe snapshot id; `received_seq` orders snapshots captured at the same
    instant (the database id or arrival counter); `sequence` is the device's own counter, if it sends one.
    """

    id: int | str
    captured_at: datetime
    received_seq: int
    device_id: str
    sequence: int | None
    soc_pct: float
    soh_pct: float
    cycle_count: int
    throughput_kwh: float | None
    pack_voltage_v: float
    cell_voltage_min_v: float
    cell_voltage_max_v: float
    cell_temp_min_c: float
    cell_temp_max_c: float
    payload_hash: str
    shape_hash: str
    cell_count: int | None = None
    cell_voltage_sum_v: float | None = None
    cells_fingerprint: str | None = None
    alarms: Mapping[str, bool] = field(default_factory=dict)
    soh_recalibrated: bool = False
    thermal_event_count: int = 0
    latest_event_at: datetime | None = None

    @classmethod
    def from_envelope(
        cls, envelope: SnapshotEnvelope, *, id: int | str, received_seq: int, payload_hash: str
    ) -> SnapshotFacts:
        """The facts of a validated envelope, computed once at ingest."""
        cells = envelope.cell_voltages_v
        moments = [fault.at for fault in envelope.faults]
        for event in envelope.thermal_events:
            moments.append(event.started_at)
            if event.ended_at is not None:
                moments.append(event.ended_at)
        return cls(
            id=id,
            captured_at=envelope.captured_at,
            received_seq=received_seq,
            device_id=envelope.device_id,
            sequence=envelope.sequence,
            soc_pct=envelope.soc_pct,
            soh_pct=envelope.soh_pct,
            cycle_count=envelope.cycle_count,
            throughput_kwh=envelope.throughput_kwh,
            pack_voltage_v=envelope.pack_voltage_v,
            cell_voltage_min_v=envelope.cell_voltage_min_v,
            cell_voltage_max_v=envelope.cell_voltage_max_v,
            cell_temp_min_c=envelope.cell_temp_min_c,
            cell_temp_max_c=envelope.cell_temp_max_c,
            payload_hash=payload_hash,
            shape_hash=measurement_shape_hash(envelope),
            cell_count=None if cells is None else len(cells),
            cell_voltage_sum_v=None if cells is None else round(sum(cells), 6),
            cells_fingerprint=None if cells is None else cells_fingerprint(cells),
            alarms=dict(envelope.alarms),
            soh_recalibrated=envelope.soh_recalibrated,
            thermal_event_count=envelope.thermal_event_count,
            latest_event_at=max(moments) if moments else None,
        )


def cells_fingerprint(cells: Sequence[float]) -> str:
    """SHA-256 of the cell voltages as doubles: equal only for the same values in the same order."""
    return hashlib.sha256(struct.pack(f"<{len(cells)}d", *cells)).hexdigest()


def measurement_shape_hash(envelope: SnapshotEnvelope) -> str:
    """SHA-256 of the measured values only (no battery code, device, time or vehicle).

    Two batteries with the same shape hash report the same measurements to the last digit: copied
    data. Callers look it up among other batteries' snapshots and pass the hits as `duplicates_elsewhere`.
    """
    measured = (
        envelope.soc_pct,
        envelope.soh_pct,
        envelope.cycle_count,
        envelope.throughput_kwh,
        envelope.pack_voltage_v,
        envelope.cell_voltage_min_v,
        envelope.cell_voltage_max_v,
        envelope.cell_temp_min_c,
        envelope.cell_temp_max_c,
        envelope.insulation_resistance_kohm,
        envelope.cell_voltages_v,
    )
    return hashlib.sha256(b"voltrace.measurements/1\n" + repr(measured).encode("ascii")).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------


def _flag(rule_id: str, details: dict[str, Any], severity: Severity | None = None) -> Flag:
    return Flag(rule_id, severity or RULES[rule_id].severity, details)


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _single_snapshot_flags(
    facts: SnapshotFacts, context: BatteryContext, tolerances: Tolerances, out: list[Flag]
) -> None:
    """Rules that look at one snapshot and the battery model only."""
    soh = facts.soh_pct
    if soh > tolerances.soh_max_plausible_pct:
        out.append(
            _flag(
                "SOH_OUT_OF_RANGE",
                {"kind": "above", "soh_pct": soh, "limit": tolerances.soh_max_plausible_pct},
            )
        )
    elif soh < 0:
        out.append(_flag("SOH_OUT_OF_RANGE", {"kind": "below", "soh_pct": soh, "limit": 0.0}))

    soc = facts.soc_pct
    if not 0.0 <= soc <= 100.0:
        out.append(_flag("SOC_OUT_OF_RANGE", {"soc_pct": soc}))

    cell_min, cell_max = facts.cell_voltage_min_v, facts.cell_voltage_max_v
    window_min, window_max = context.cell_voltage_min_v, context.cell_voltage_max_v
    if window_min is not None and window_max is not None:
        margin = tolerances.cell_window_v
        if cell_min < window_min - margin or cell_max > window_max + margin:
            out.append(
                _flag(
                    "CELL_VOLTAGE_OUTSIDE_WINDOW",
                    {
                        "cell_voltage_min_v": cell_min,
                        "cell_voltage_max_v": cell_max,
                        "window_min_v": window_min,
                        "window_max_v": window_max,
                        "tolerance_v": margin,
                    },
                )
            )
        edge = tolerances.soc_edge_margin_v
        if cell_min <= window_min + edge and soc > tolerances.soc_near_empty_max_pct:
            details = {"kind": "empty", "soc_pct": soc, "cell_voltage_v": cell_min}
            out.append(
                _flag("SOC_INCONSISTENT_WITH_CELLS", details | {"limit": tolerances.soc_near_empty_max_pct})
            )
        elif cell_max >= window_max - edge and soc < tolerances.soc_near_full_min_pct:
            details = {"kind": "full", "soc_pct": soc, "cell_voltage_v": cell_max}
            out.append(
                _flag("SOC_INCONSISTENT_WITH_CELLS", details | {"limit": tolerances.soc_near_full_min_pct})
            )

    series = context.cells_in_series
    if facts.cell_count is not None and series is not None and facts.cell_count != series:
        out.append(_flag("CELL_COUNT_MISMATCH", {"cell_count": facts.cell_count, "cells_in_series": series}))
    _pack_voltage_flags(facts, series, tolerances, out)

    cell_count = facts.cell_count if facts.cell_count is not None else series
    if cell_count is not None and cell_count >= tolerances.identical_cells_min_count and cell_min == cell_max:
        out.append(_flag("CELLS_IDENTICAL", {"cell_count": cell_count, "cell_voltage_v": cell_min}))

    _temperature_flags(facts, tolerances, out)

    if (
        facts.latest_event_at is not None
        and facts.latest_event_at > facts.captured_at + tolerances.event_clock_skew
    ):
        details = {
            "kind": "event_after_capture",
            "event_at": _instant(facts.latest_event_at),
            "captured_at": _instant(facts.captured_at),
        }
        out.append(_flag("TIMESTAMPS_OUT_OF_ORDER", details))


def _pack_voltage_flags(
    facts: SnapshotFacts, series: int | None, tolerances: Tolerances, out: list[Flag]
) -> None:
    pack = facts.pack_voltage_v
    total = facts.cell_voltage_sum_v
    if total is not None and (series is None or facts.cell_count == series):
        if abs(pack - total) > tolerances.pack_sum_fraction * total:
            details = {
                "kind": "sum",
                "pack_voltage_v": pack,
                "expected_v": round(total, 3),
                "tolerance_pct": round(tolerances.pack_sum_fraction * 100, 2),
            }
            out.append(_flag("PACK_VOLTAGE_MISMATCH", details))
    elif series is not None:
        low = round(series * facts.cell_voltage_min_v * (1 - tolerances.pack_band_fraction), 3)
        high = round(series * facts.cell_voltage_max_v * (1 + tolerances.pack_band_fraction), 3)
        if not low <= pack <= high:
            details = {
                "kind": "band",
                "pack_voltage_v": pack,
                "low_v": low,
                "high_v": high,
                "cells_in_series": series,
            }
            out.append(_flag("PACK_VOLTAGE_MISMATCH", details))


def _temperature_flags(facts: SnapshotFacts, tolerances: Tolerances, out: list[Flag]) -> None:
    hottest, coldest = facts.cell_temp_max_c, facts.cell_temp_min_c
    alarms = facts.alarms
    if coldest < tolerances.temperature_physical_min_c:
        details = {"kind": "cold", "temperature_c": coldest, "limit": tolerances.temperature_physical_min_c}
        out.append(_flag("TEMPERATURE_IMPOSSIBLE", details))
    if hottest > tolerances.temperature_without_event_max_c and not (
        facts.thermal_event_count or alarms.get("over_temperature") or alarms.get("thermal_runaway")
    ):
        details = {
            "kind": "hot",
            "temperature_c": hottest,
            "limit": tolerances.temperature_without_event_max_c,
        }
        out.append(_flag("TEMPERATURE_IMPOSSIBLE", details))

    over = alarms.get("over_temperature")
    if over is False and hottest >= tolerances.over_temperature_alarm_required_c:
        details = {
            "kind": "over_missing",
            "temperature_c": hottest,
            "limit": tolerances.over_temperature_alarm_required_c,
        }
        out.append(_flag("TEMPERATURE_ALARM_INCONSISTENT", details))
    elif over is True and hottest <= tolerances.over_temperature_alarm_impossible_c:
        details = {
            "kind": "over_spurious",
            "temperature_c": hottest,
            "limit": tolerances.over_temperature_alarm_impossible_c,
        }
        out.append(_flag("TEMPERATURE_ALARM_INCONSISTENT", details))
    under = alarms.get("under_temperature")
    if under is False and coldest <= tolerances.under_temperature_alarm_required_c:
        details = {
            "kind": "under_missing",
            "temperature_c": coldest,
            "limit": tolerances.under_temperature_alarm_required_c,
        }
        out.append(_flag("TEMPERATURE_ALARM_INCONSISTENT", details))
    elif under is True and coldest > tolerances.under_temperature_alarm_impossible_c:
        details = {
            "kind": "under_spurious",
            "temperature_c": coldest,
            "limit": tolerances.under_temperature_alarm_impossible_c,
        }
        out.append(_flag("TEMPERATURE_ALARM_INCONSISTENT", details))


def _counter_flags(
    previous: SnapshotFacts, current: SnapshotFacts, tolerances: Tolerances, out: list[Flag]
) -> None:
    """Monotonic counters between consecutive snapshots."""
    gain = current.cycle_count - previous.cycle_count
    if gain < 0:
        details = {
            "previous_cycle_count": previous.cycle_count,
            "cycle_count": current.cycle_count,
            "compared_with": previous.id,
        }
        out.append(_flag("CYCLES_DECREASING", details))
    else:
        hours = (current.captured_at - previous.captured_at).total_seconds() / 3600
        if gain > tolerances.cycle_count_grace + hours * tolerances.cycles_per_hour_max:
            details = {
                "gain": gain,
                "hours": round(hours, 2),
                "limit": tolerances.cycles_per_hour_max,
                "compared_with": previous.id,
            }
            out.append(_flag("CYCLES_RISING_TOO_FAST", details))
    if (
        current.throughput_kwh is not None
        and previous.throughput_kwh is not None
        and current.throughput_kwh < previous.throughput_kwh - tolerances.throughput_decrease_kwh
    ):
        details = {
            "previous_throughput_kwh": previous.throughput_kwh,
            "throughput_kwh": current.throughput_kwh,
            "compared_with": previous.id,
        }
        out.append(_flag("THROUGHPUT_DECREASING", details))


def _sequence_flags(last: SnapshotFacts, current: SnapshotFacts, out: list[Flag]) -> None:
    """The device's own numbering and clock must agree (last: its previous snapshot in capture order)."""
    if last.captured_at == current.captured_at:
        details = {"kind": "same_instant", "device_id": current.device_id, "compared_with": last.id}
        out.append(_flag("TIMESTAMPS_OUT_OF_ORDER", details))
    elif current.sequence is not None and last.sequence is not None and current.sequence <= last.sequence:
        details = {
            "kind": "sequence",
            "device_id": current.device_id,
            "sequence": current.sequence,
            "previous_sequence": last.sequence,
            "compared_with": last.id,
        }
        out.append(_flag("TIMESTAMPS_OUT_OF_ORDER", details))


def evaluate_history(
    context: BatteryContext,
    snapshots: Iterable[SnapshotFacts],
    *,
    duplicates_elsewhere: Collection[str] = frozenset(),
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> dict[int | str, list[Flag]]:
    """The flags of every snapshot of one battery (an empty list for a clean one), from its whole history.

    `duplicates_elsewhere` holds the payload hashes and shape hashes found on other batteries.
    """
    ordered = sorted(snapshots, key=lambda facts: (facts.captured_at, facts.received_seq))
    flags: dict[int | str, list[Flag]] = {facts.id: [] for facts in ordered}
    if len(flags) != len(ordered):
        raise ValueError("snapshot ids must be unique within a history")

    previous: SnapshotFacts | None = None
    lowest_soh: float | None = None  # since the last recalibration or flagged rise
    last_by_device: dict[str, SnapshotFacts] = {}
    first_by_cells: dict[str, SnapshotFacts] = {}
    for current in ordered:
        out = flags[current.id]
        _single_snapshot_flags(current, context, tolerances, out)

        if duplicates_elsewhere:
            if current.payload_hash in duplicates_elsewhere:
                out.append(_flag("PAYLOAD_DUPLICATED_ACROSS_BATTERIES", {"kind": "payload"}))
            elif current.shape_hash in duplicates_elsewhere:
                # Without a full cell list, a few rounded values can coincide on two healthy packs
                # (new packs at end-of-line test especially): a warning, not proof.
                full_list = (current.cell_count or 0) >= tolerances.identical_cells_min_count
                out.append(
                    _flag(
                        "PAYLOAD_DUPLICATED_ACROSS_BATTERIES",
                        {"kind": "measurements"},
                        severity=None if full_list else Severity.WARNING,
                    )
                )

        if current.cells_fingerprint is not None:
            first = first_by_cells.setdefault(current.cells_fingerprint, current)
            if (
                first is not current
                and abs(first.soc_pct - current.soc_pct) >= tolerances.repeated_cells_min_soc_change_pct
            ):
                details = {
                    "soc_pct": current.soc_pct,
                    "other_soc_pct": first.soc_pct,
                    "compared_with": first.id,
                }
                out.append(_flag("CELLS_REPEATED", details))

        last = last_by_device.get(current.device_id)
        if last is not None:
            _sequence_flags(last, current, out)
        last_by_device[current.device_id] = current

        soh = current.soh_pct
        if previous is not None:
            _counter_flags(previous, current, tolerances, out)
            if current.soh_recalibrated:
                details = {"previous_soh_pct": previous.soh_pct, "soh_pct": soh, "compared_with": previous.id}
                out.append(_flag("SOH_RECALIBRATED", details))
                lowest_soh = soh
            elif soh - previous.soh_pct > tolerances.soh_step_rise_pct:
                details = {
                    "kind": "step",
                    "previous_soh_pct": previous.soh_pct,
                    "soh_pct": soh,
                    "tolerance": tolerances.soh_step_rise_pct,
                    "compared_with": previous.id,
                }
                out.append(_flag("SOH_RISING", details))
                lowest_soh = soh
            elif lowest_soh is not None and soh - lowest_soh > tolerances.soh_cumulative_rise_pct:
                details = {
                    "kind": "cumulative",
                    "lowest_soh_pct": lowest_soh,
                    "soh_pct": soh,
                    "tolerance": tolerances.soh_cumulative_rise_pct,
                }
                out.append(_flag("SOH_RISING", details))
                lowest_soh = soh
            elif lowest_soh is None or soh < lowest_soh:
                lowest_soh = soh
        else:
            if current.soh_recalibrated:
                out.append(_flag("SOH_RECALIBRATED", {"kind": "first", "soh_pct": soh}))
            lowest_soh = soh
        previous = current
    return flags
