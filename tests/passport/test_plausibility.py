"""The plausibility rules: a clean history raises nothing, each rule trips on its crafted case."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.canonical import canonicalize, sha256_hex
from passport.snapshots.plausibility import (
    RULES,
    BatteryContext,
    Flag,
    Severity,
    SnapshotFacts,
    Tolerances,
    cells_fingerprint,
    evaluate_history,
    measurement_shape_hash,
    message_for,
)
from passport.snapshots.schema import validate_envelope
from tests.snapshot_builders import (
    DEFAULT_CAPTURED_AT,
    LFP_CELL_WINDOW_V,
    LFP_CELLS_IN_SERIES,
    OTHER_BATTERY_CODE,
    REMOVE,
    lfp_cell_voltages,
    lfp_history,
    lfp_payload,
    rfc3339,
    sign_envelope,
)

LFP = BatteryContext(*LFP_CELL_WINDOW_V, cells_in_series=LFP_CELLS_IN_SERIES)


def facts_of(payloads: list[dict[str, Any]], *, first_id: int = 1) -> list[SnapshotFacts]:
    """Facts of payloads as ingest derives them (ids and arrival order follow the list)."""
    facts = []
    for offset, payload in enumerate(payloads):
        envelope = validate_envelope(sign_envelope(payload))
        facts.append(
            SnapshotFacts.from_envelope(
                envelope,
                id=first_id + offset,
                received_seq=first_id + offset,
                payload_hash=sha256_hex(canonicalize(envelope.payload)),
            )
        )
    return facts


def rule_ids(flags: dict[int | str, list[Flag]]) -> dict[int | str, list[str]]:
    """Rule ids per snapshot, after checking every flag renders and stores as JSON."""
    for snapshot_flags in flags.values():
        for flag in snapshot_flags:
            assert flag.message
            assert flag.message == message_for(flag.rule_id, flag.details)
            assert json.loads(json.dumps(flag.details)) == flag.details
            assert flag.severity in Severity
    return {
        snapshot_id: [flag.rule_id for flag in snapshot_flags]
        for snapshot_id, snapshot_flags in flags.items()
    }


def only_flags(flags: dict[int | str, list[Flag]]) -> dict[int | str, list[str]]:
    """The snapshots that have flags, with their rule ids."""
    return {snapshot_id: ids for snapshot_id, ids in rule_ids(flags).items() if ids}


def history(count: int = 6) -> list[dict[str, Any]]:
    return lfp_history(count)


def single(**overrides: Any) -> list[SnapshotFacts]:
    return facts_of([lfp_payload(**overrides)])


def with_cells(cells: list[float], **overrides: Any) -> dict[str, Any]:
    """A payload whose cell list, extremes and pack voltage are all consistent with `cells`."""
    return lfp_payload(
        cell_voltages_v=cells,
        cell_voltage_min_v=min(cells),
        cell_voltage_max_v=max(cells),
        pack_voltage_v=round(sum(cells), 1),
        **overrides,
    )


def set_cells(payload: dict[str, Any], cells: list[float], **updates: Any) -> None:
    """Replace a payload's cells, keeping extremes and pack voltage consistent with them."""
    payload.update(
        cell_voltages_v=cells,
        cell_voltage_min_v=min(cells),
        cell_voltage_max_v=max(cells),
        pack_voltage_v=round(sum(cells), 1),
        **updates,
    )


def first(flags: dict[int | str, list[Flag]], snapshot_id: int, rule_id: str) -> Flag:
    return next(flag for flag in flags[snapshot_id] if flag.rule_id == rule_id)


# ---------------------------------------------------------------------------------------------------
# Clean data raises nothing
# ---------------------------------------------------------------------------------------------------


def test_clean_realistic_history_raises_no_flag():
    facts = facts_of(lfp_history(100))
    flags = evaluate_history(LFP, facts)
    assert set(flags) == {snapshot.id for snapshot in facts}
    assert only_flags(flags) == {}


def test_clean_history_without_a_battery_model_raises_no_flag():
    assert only_flags(evaluate_history(BatteryContext(), facts_of(history(10)))) == {}


def test_empty_history_has_no_flags():
    assert evaluate_history(LFP, []) == {}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=40),
    soh_start=st.floats(min_value=70.0, max_value=100.0),
    soh_loss=st.floats(min_value=0.0, max_value=0.5),
    cycles_per_interval=st.integers(min_value=0, max_value=60),
    interval_hours=st.integers(min_value=24, max_value=24 * 30),
)
def test_any_clean_history_raises_no_flag(count, soh_start, soh_loss, cycles_per_interval, interval_hours):
    payloads = lfp_history(
        count,
        soh_start=soh_start,
        soh_loss_per_interval=soh_loss,
        cycles_per_interval=cycles_per_interval,
        interval=timedelta(hours=interval_hours),
    )
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


# ---------------------------------------------------------------------------------------------------
# Each rule trips on a crafted case
# ---------------------------------------------------------------------------------------------------


def _soh_above_range() -> tuple[Any, ...]:
    return LFP, single(soh_pct=108.0), frozenset(), {1: ["SOH_OUT_OF_RANGE"]}


def _soh_below_range() -> tuple[Any, ...]:
    facts = [dataclasses.replace(single()[0], soh_pct=-1.0)]
    return LFP, facts, frozenset(), {1: ["SOH_OUT_OF_RANGE"]}


def _soh_step_rise() -> tuple[Any, ...]:
    payloads = history()
    payloads[3]["soh_pct"] = payloads[2]["soh_pct"] + 2.5
    return LFP, facts_of(payloads), frozenset(), {4: ["SOH_RISING"]}


def _soh_creeping_rise() -> tuple[Any, ...]:
    payloads = history(5)
    for index, soh in enumerate([90.0, 91.5, 93.0, 94.5, 96.0]):
        payloads[index]["soh_pct"] = soh
    return LFP, facts_of(payloads), frozenset(), {5: ["SOH_RISING"]}


def _soh_recalibrated() -> tuple[Any, ...]:
    payloads = history()
    payloads[3].update(
        soh_pct=payloads[2]["soh_pct"] + 6.0,
        soh_recalibrated=True,
        soh_recalibration_reason="Full discharge capacity test at the service centre",
    )
    for later in payloads[4:]:
        later["soh_pct"] = payloads[3]["soh_pct"] - 0.1
    return LFP, facts_of(payloads), frozenset(), {4: ["SOH_RECALIBRATED"]}


def _cycles_decreasing() -> tuple[Any, ...]:
    payloads = history()
    payloads[3]["cycle_count"] = payloads[2]["cycle_count"] - 1
    return LFP, facts_of(payloads), frozenset(), {4: ["CYCLES_DECREASING"]}


def _cycles_rising_too_fast() -> tuple[Any, ...]:
    one = lfp_payload(cycle_count=800, sequence=1)
    later = lfp_payload(
        cycle_count=805, sequence=2, captured_at=DEFAULT_CAPTURED_AT + timedelta(hours=1), seed=1
    )
    return LFP, facts_of([one, later]), frozenset(), {2: ["CYCLES_RISING_TOO_FAST"]}


def _throughput_decreasing() -> tuple[Any, ...]:
    payloads = history()
    payloads[3]["throughput_kwh"] = payloads[2]["throughput_kwh"] - 1.0
    return LFP, facts_of(payloads), frozenset(), {4: ["THROUGHPUT_DECREASING"]}


def _cells_above_window() -> tuple[Any, ...]:
    cells = [round(4.05 + 0.001 * (index % 7), 3) for index in range(96)]  # an NMC pack's readings
    return LFP, facts_of([with_cells(cells, soc_pct=85.0)]), frozenset(), {1: ["CELL_VOLTAGE_OUTSIDE_WINDOW"]}


def _cells_below_window() -> tuple[Any, ...]:
    cells = lfp_cell_voltages(10.0)
    cells[40] = 2.40
    return LFP, facts_of([with_cells(cells, soc_pct=5.0)]), frozenset(), {1: ["CELL_VOLTAGE_OUTSIDE_WINDOW"]}


def _cell_count_mismatch() -> tuple[Any, ...]:
    return (
        LFP,
        facts_of([with_cells(lfp_cell_voltages(61.5)[:95])]),
        frozenset(),
        {1: ["CELL_COUNT_MISMATCH"]},
    )


def _pack_voltage_far_from_cell_sum() -> tuple[Any, ...]:
    return LFP, single(pack_voltage_v=280.0), frozenset(), {1: ["PACK_VOLTAGE_MISMATCH"]}


def _pack_voltage_outside_series_band() -> tuple[Any, ...]:
    return (
        LFP,
        single(cell_voltages_v=REMOVE, pack_voltage_v=400.0),
        frozenset(),
        {1: ["PACK_VOLTAGE_MISMATCH"]},
    )


def _soc_out_of_range() -> tuple[Any, ...]:
    facts = [dataclasses.replace(single()[0], soc_pct=101.0)]
    return LFP, facts, frozenset(), {1: ["SOC_OUT_OF_RANGE"]}


def _soc_high_with_an_empty_cell() -> tuple[Any, ...]:
    cells = lfp_cell_voltages(80.0)
    cells[5] = 2.52
    return LFP, facts_of([with_cells(cells, soc_pct=80.0)]), frozenset(), {1: ["SOC_INCONSISTENT_WITH_CELLS"]}


def _soc_low_with_a_full_cell() -> tuple[Any, ...]:
    cells = lfp_cell_voltages(40.0)
    cells[7] = 3.62
    return LFP, facts_of([with_cells(cells, soc_pct=40.0)]), frozenset(), {1: ["SOC_INCONSISTENT_WITH_CELLS"]}


def _temperature_impossibly_cold() -> tuple[Any, ...]:
    facts = single(cell_temp_min_c=-55.0, cell_temp_max_c=-51.0, alarms={"under_temperature": True})
    return LFP, facts, frozenset(), {1: ["TEMPERATURE_IMPOSSIBLE"]}


def _temperature_impossibly_hot() -> tuple[Any, ...]:
    facts = single(cell_temp_min_c=95.0, cell_temp_max_c=131.0, alarms=REMOVE, thermal_events=0)
    return LFP, facts, frozenset(), {1: ["TEMPERATURE_IMPOSSIBLE"]}


def _hot_cell_without_alarm() -> tuple[Any, ...]:
    facts = single(cell_temp_min_c=60.0, cell_temp_max_c=72.0)
    return LFP, facts, frozenset(), {1: ["TEMPERATURE_ALARM_INCONSISTENT"]}


def _sequence_out_of_order() -> tuple[Any, ...]:
    payloads = history()
    payloads[3]["sequence"] = payloads[2]["sequence"]
    return LFP, facts_of(payloads), frozenset(), {4: ["TIMESTAMPS_OUT_OF_ORDER"]}


def _identical_cells() -> tuple[Any, ...]:
    return LFP, facts_of([with_cells([3.3] * 96)]), frozenset(), {1: ["CELLS_IDENTICAL"]}


def _repeated_cells() -> tuple[Any, ...]:
    payloads = history()
    set_cells(payloads[1], lfp_cell_voltages(40.0, seed=11), soc_pct=40.0)
    set_cells(payloads[4], lfp_cell_voltages(40.0, seed=11), soc_pct=80.0)
    return LFP, facts_of(payloads), frozenset(), {5: ["CELLS_REPEATED"]}


def _payload_copied_from_another_battery() -> tuple[Any, ...]:
    facts = facts_of(history())
    return LFP, facts, frozenset({facts[2].payload_hash}), {3: ["PAYLOAD_DUPLICATED_ACROSS_BATTERIES"]}


CASES: dict[str, list[Callable[[], tuple[Any, ...]]]] = {
    "SOH_OUT_OF_RANGE": [_soh_above_range, _soh_below_range],
    "SOH_RISING": [_soh_step_rise, _soh_creeping_rise],
    "SOH_RECALIBRATED": [_soh_recalibrated],
    "CYCLES_DECREASING": [_cycles_decreasing],
    "CYCLES_RISING_TOO_FAST": [_cycles_rising_too_fast],
    "THROUGHPUT_DECREASING": [_throughput_decreasing],
    "CELL_VOLTAGE_OUTSIDE_WINDOW": [_cells_above_window, _cells_below_window],
    "CELL_COUNT_MISMATCH": [_cell_count_mismatch],
    "PACK_VOLTAGE_MISMATCH": [_pack_voltage_far_from_cell_sum, _pack_voltage_outside_series_band],
    "SOC_OUT_OF_RANGE": [_soc_out_of_range],
    "SOC_INCONSISTENT_WITH_CELLS": [_soc_high_with_an_empty_cell, _soc_low_with_a_full_cell],
    "TEMPERATURE_IMPOSSIBLE": [_temperature_impossibly_cold, _temperature_impossibly_hot],
    "TEMPERATURE_ALARM_INCONSISTENT": [_hot_cell_without_alarm],
    "TIMESTAMPS_OUT_OF_ORDER": [_sequence_out_of_order],
    "CELLS_IDENTICAL": [_identical_cells],
    "CELLS_REPEATED": [_repeated_cells],
    "PAYLOAD_DUPLICATED_ACROSS_BATTERIES": [_payload_copied_from_another_battery],
}


def test_every_rule_has_a_crafted_case():
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize(
    "case", [case for cases in CASES.values() for case in cases], ids=lambda case: case.__name__.strip("_")
)
def test_rule_trips_on_its_crafted_case_and_nothing_else_does(case):
    context, facts, duplicates, expected = case()
    assert only_flags(evaluate_history(context, facts, duplicates_elsewhere=duplicates)) == expected


@pytest.mark.parametrize("rule", list(RULES.values()), ids=lambda rule: rule.id)
def test_every_rule_has_an_id_severity_title_and_message(rule):
    assert rule.severity in Severity
    assert str(rule.title)
    assert rule.messages


# ---------------------------------------------------------------------------------------------------
# The details of each rule
# ---------------------------------------------------------------------------------------------------


def test_soh_within_the_plausible_band_above_100_is_not_flagged():
    assert only_flags(evaluate_history(LFP, single(soh_pct=104.9))) == {}


def test_schema_accepts_soh_up_to_120_and_the_rule_judges_it():
    flags = evaluate_history(LFP, single(soh_pct=120.0))
    flag = first(flags, 1, "SOH_OUT_OF_RANGE")
    assert flag.severity == Severity.CRITICAL
    assert flag.details == {"kind": "above", "soh_pct": 120.0, "limit": 105.0}
    assert "120.0%" in flag.message


def test_soh_rise_within_tolerance_is_not_flagged():
    payloads = history()
    payloads[3]["soh_pct"] = payloads[2]["soh_pct"] + 1.9
    payloads[4]["soh_pct"] = payloads[3]["soh_pct"] - 0.5
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


def test_soh_may_fall_steeply_without_a_flag():
    payloads = history()
    for later in payloads[3:]:
        later["soh_pct"] -= 15.0
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


def test_soh_step_flag_names_both_values_and_the_earlier_snapshot():
    context, facts, _, _ = _soh_step_rise()
    flag = first(evaluate_history(context, facts), 4, "SOH_RISING")
    assert flag.details["kind"] == "step"
    assert flag.details["compared_with"] == 3
    assert flag.details["soh_pct"] - flag.details["previous_soh_pct"] == pytest.approx(2.5)
    assert flag.severity == Severity.CRITICAL


def test_soh_creep_is_measured_from_the_lowest_value():
    context, facts, _, _ = _soh_creeping_rise()
    flag = first(evaluate_history(context, facts), 5, "SOH_RISING")
    assert flag.details == {"kind": "cumulative", "lowest_soh_pct": 90.0, "soh_pct": 96.0, "tolerance": 5.0}


def test_recalibration_sets_a_new_baseline_for_the_creep_check():
    payloads = history(8)
    levels = [90.0, 89.9, 95.0, 95.5, 96.5, 97.5, 98.5, 100.1]
    for payload, soh in zip(payloads, levels, strict=True):
        payload["soh_pct"] = soh
    payloads[2].update(soh_recalibrated=True, soh_recalibration_reason="BMS replaced")
    flags = only_flags(evaluate_history(LFP, facts_of(payloads)))
    assert flags == {3: ["SOH_RECALIBRATED"], 8: ["SOH_RISING"]}


def test_recalibration_on_the_first_snapshot_is_recorded():
    facts = single(soh_recalibrated=True, soh_recalibration_reason="Commissioning capacity test")
    flag = first(evaluate_history(LFP, facts), 1, "SOH_RECALIBRATED")
    assert flag.severity == Severity.INFO
    assert flag.details["kind"] == "first"


def test_stricter_tolerances_trip_earlier():
    payloads = history()
    payloads[3]["soh_pct"] = payloads[2]["soh_pct"] + 1.0
    facts = facts_of(payloads)
    assert only_flags(evaluate_history(LFP, facts)) == {}
    strict = Tolerances(soh_step_rise_pct=0.5)
    assert only_flags(evaluate_history(LFP, facts, tolerances=strict)) == {4: ["SOH_RISING"]}


def test_cycle_count_may_stay_the_same():
    payloads = history()
    payloads[3]["cycle_count"] = payloads[2]["cycle_count"]
    payloads[3]["throughput_kwh"] = payloads[2]["throughput_kwh"]
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


def test_cycle_rate_limit_allows_three_an_hour_plus_one():
    one = lfp_payload(cycle_count=800, sequence=1)
    later = lfp_payload(
        cycle_count=804, sequence=2, captured_at=DEFAULT_CAPTURED_AT + timedelta(hours=1), seed=1
    )
    assert only_flags(evaluate_history(LFP, facts_of([one, later]))) == {}


def test_cycle_count_jump_then_return_flags_both_snapshots():
    payloads = history()
    payloads[3]["cycle_count"] += 5000
    flags = only_flags(evaluate_history(LFP, facts_of(payloads)))
    assert flags == {4: ["CYCLES_RISING_TOO_FAST"], 5: ["CYCLES_DECREASING"]}


def test_throughput_rounding_within_tolerance_is_not_flagged():
    payloads = history()
    payloads[3]["throughput_kwh"] = payloads[2]["throughput_kwh"] - 0.05
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


def test_throughput_is_not_compared_when_a_snapshot_lacks_it():
    payloads = history()
    del payloads[3]["throughput_kwh"]
    payloads[4]["throughput_kwh"] = payloads[2]["throughput_kwh"] + 1
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


def test_cell_window_tolerance_allows_sensor_error():
    cells = lfp_cell_voltages(98.0)
    cells[3] = 3.69
    assert only_flags(evaluate_history(LFP, facts_of([with_cells(cells, soc_pct=98.0)]))) == {}


def test_cell_window_from_decimals_is_used():
    context = BatteryContext(Decimal("2.000"), Decimal("3.200"), cells_in_series=96)
    assert context.cell_voltage_max_v == 3.2
    assert type(context.cell_voltage_max_v) is float
    flags = only_flags(evaluate_history(context, single()))
    assert "CELL_VOLTAGE_OUTSIDE_WINDOW" in flags[1]


def test_cell_window_flag_carries_the_window():
    context, facts, _, _ = _cells_above_window()
    flag = first(evaluate_history(context, facts), 1, "CELL_VOLTAGE_OUTSIDE_WINDOW")
    assert flag.details["window_min_v"] == 2.5
    assert flag.details["window_max_v"] == 3.65
    assert flag.details["cell_voltage_max_v"] > 4.0


def test_pack_voltage_within_five_percent_of_the_cell_sum_is_not_flagged():
    facts = single()
    total = facts[0].cell_voltage_sum_v
    inside = [dataclasses.replace(facts[0], pack_voltage_v=round(total * 0.951, 1))]
    outside = [dataclasses.replace(facts[0], pack_voltage_v=round(total * 0.94, 1))]
    assert only_flags(evaluate_history(LFP, inside)) == {}
    assert only_flags(evaluate_history(LFP, outside)) == {1: ["PACK_VOLTAGE_MISMATCH"]}


def test_pack_voltage_sum_check_needs_no_battery_model():
    assert only_flags(evaluate_history(BatteryContext(), single(pack_voltage_v=280.0))) == {
        1: ["PACK_VOLTAGE_MISMATCH"]
    }


def test_pack_voltage_band_check_uses_extremes_and_series_count():
    context, facts, _, _ = _pack_voltage_outside_series_band()
    flag = first(evaluate_history(context, facts), 1, "PACK_VOLTAGE_MISMATCH")
    assert flag.details["kind"] == "band"
    assert flag.details["cells_in_series"] == 96
    assert flag.details["low_v"] < 317 < flag.details["high_v"]


def test_pack_voltage_without_cells_or_series_count_is_not_judged():
    assert (
        only_flags(evaluate_history(BatteryContext(), single(cell_voltages_v=REMOVE, pack_voltage_v=900.0)))
        == {}
    )


def test_soc_and_cells_agree_in_the_middle_of_the_window():
    cells = lfp_cell_voltages(50.0)
    assert only_flags(evaluate_history(LFP, facts_of([with_cells(cells, soc_pct=50.0)]))) == {}


def test_soc_inconsistency_kinds_are_reported():
    _, facts_empty, _, _ = _soc_high_with_an_empty_cell()
    _, facts_full, _, _ = _soc_low_with_a_full_cell()
    empty = first(evaluate_history(LFP, facts_empty), 1, "SOC_INCONSISTENT_WITH_CELLS")
    full = first(evaluate_history(LFP, facts_full), 1, "SOC_INCONSISTENT_WITH_CELLS")
    assert (empty.details["kind"], empty.details["cell_voltage_v"]) == ("empty", 2.52)
    assert (full.details["kind"], full.details["cell_voltage_v"]) == ("full", 3.62)


def test_hot_cell_during_a_thermal_event_is_not_impossible():
    facts = single(cell_temp_min_c=95.0, cell_temp_max_c=131.0, alarms=REMOVE, thermal_events=1)
    assert only_flags(evaluate_history(LFP, facts)) == {}


def test_hot_cell_with_over_temperature_alarm_is_not_impossible():
    facts = single(
        cell_temp_min_c=95.0, cell_temp_max_c=131.0, alarms={"over_temperature": True}, thermal_events=0
    )
    assert only_flags(evaluate_history(LFP, facts)) == {}


@pytest.mark.parametrize(
    ("temperatures", "alarms", "kind"),
    [
        ((60.0, 72.0), {"over_temperature": False}, "over_missing"),
        ((20.0, 25.0), {"over_temperature": True}, "over_spurious"),
        ((-32.0, -28.0), {"under_temperature": False}, "under_missing"),
        ((21.0, 24.0), {"under_temperature": True}, "under_spurious"),
    ],
)
def test_temperature_alarm_inconsistencies(temperatures, alarms, kind):
    facts = single(cell_temp_min_c=temperatures[0], cell_temp_max_c=temperatures[1], alarms=alarms)
    flags = evaluate_history(LFP, facts)
    assert only_flags(flags) == {1: ["TEMPERATURE_ALARM_INCONSISTENT"]}
    assert first(flags, 1, "TEMPERATURE_ALARM_INCONSISTENT").details["kind"] == kind


@pytest.mark.parametrize(
    ("temperatures", "alarms"),
    [
        ((60.0, 72.0), None),
        ((50.0, 65.0), {"over_temperature": False}),
        ((50.0, 65.0), {"over_temperature": True}),
        ((-25.0, -20.0), {"under_temperature": False}),
        ((-25.0, -20.0), {"under_temperature": True}),
    ],
)
def test_temperatures_between_the_thresholds_or_without_alarm_flags_are_not_judged(temperatures, alarms):
    facts = single(
        cell_temp_min_c=temperatures[0],
        cell_temp_max_c=temperatures[1],
        alarms=REMOVE if alarms is None else alarms,
    )
    assert only_flags(evaluate_history(LFP, facts)) == {}


def test_event_recorded_after_capture_is_out_of_order():
    payload = lfp_payload()
    payload["faults"][1]["at"] = rfc3339(DEFAULT_CAPTURED_AT + timedelta(minutes=10))
    flags = evaluate_history(LFP, facts_of([payload]))
    flag = first(flags, 1, "TIMESTAMPS_OUT_OF_ORDER")
    assert flag.details["kind"] == "event_after_capture"
    assert flag.details["event_at"] == "2026-05-01T08:10:00Z"
    assert flag.details["captured_at"] == "2026-05-01T08:00:00Z"


def test_event_within_the_clock_skew_is_in_order():
    payload = lfp_payload(thermal_events=1)
    payload["thermal_events"][0]["ended_at"] = rfc3339(DEFAULT_CAPTURED_AT + timedelta(minutes=4))
    assert only_flags(evaluate_history(LFP, facts_of([payload]))) == {}


def test_two_different_snapshots_for_the_same_instant_from_one_device_are_flagged():
    one = lfp_payload(sequence=1)
    other = lfp_payload(sequence=2, soc_pct=60.0, seed=3)
    flags = evaluate_history(LFP, facts_of([one, other]))
    assert only_flags(flags) == {2: ["TIMESTAMPS_OUT_OF_ORDER"]}
    assert first(flags, 2, "TIMESTAMPS_OUT_OF_ORDER").details["kind"] == "same_instant"


def test_sequences_of_different_devices_are_independent():
    payloads = history()
    for index, payload in enumerate(payloads):
        payload["device_id"] = "BMS-ONBOARD" if index % 2 else "TESTER-LAB-7"
        payload["sequence"] = 100 - index if index % 2 else index
    facts = facts_of(payloads)
    flags = only_flags(evaluate_history(LFP, facts))
    assert flags == {4: ["TIMESTAMPS_OUT_OF_ORDER"], 6: ["TIMESTAMPS_OUT_OF_ORDER"]}


def test_snapshots_without_a_sequence_are_not_compared_by_sequence():
    payloads = history()
    for payload in payloads:
        del payload["sequence"]
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


def test_identical_extremes_without_a_cell_list_are_flagged_for_a_large_pack():
    facts = single(cell_voltages_v=REMOVE, cell_voltage_min_v=3.3, cell_voltage_max_v=3.3)
    assert only_flags(evaluate_history(LFP, facts)) == {1: ["CELLS_IDENTICAL"]}


def test_identical_cells_in_a_small_pack_are_not_flagged():
    cells = [3.3] * 8
    facts = facts_of([with_cells(cells)])
    assert only_flags(evaluate_history(BatteryContext(*LFP_CELL_WINDOW_V, cells_in_series=8), facts)) == {}


def test_same_cell_voltages_at_the_same_state_of_charge_are_not_repeated_data():
    payloads = history()
    set_cells(payloads[1], lfp_cell_voltages(40.0, seed=11), soc_pct=40.0)
    set_cells(payloads[4], lfp_cell_voltages(40.0, seed=11), soc_pct=42.0)
    assert only_flags(evaluate_history(LFP, facts_of(payloads))) == {}


def test_repeated_cells_flag_names_the_earlier_snapshot():
    context, facts, duplicates, _ = _repeated_cells()
    flag = first(evaluate_history(context, facts, duplicates_elsewhere=duplicates), 5, "CELLS_REPEATED")
    assert flag.details == {"soc_pct": 80.0, "other_soc_pct": 40.0, "compared_with": 2}


def test_same_measurements_on_another_battery_are_flagged_critical_with_a_full_cell_list():
    ours = facts_of(history(3))
    theirs = lfp_history(3, battery_code=OTHER_BATTERY_CODE, device_id="BMS-OTHER", vehicle=False)
    copied = validate_envelope(sign_envelope(theirs[1]))
    assert measurement_shape_hash(copied) == ours[1].shape_hash
    flags = evaluate_history(LFP, ours, duplicates_elsewhere={measurement_shape_hash(copied)})
    assert only_flags(flags) == {2: ["PAYLOAD_DUPLICATED_ACROSS_BATTERIES"]}
    flag = first(flags, 2, "PAYLOAD_DUPLICATED_ACROSS_BATTERIES")
    assert (flag.details["kind"], flag.severity) == ("measurements", Severity.CRITICAL)


def test_same_measurements_without_a_cell_list_are_only_a_warning():
    facts = single(cell_voltages_v=REMOVE)
    flags = evaluate_history(LFP, facts, duplicates_elsewhere={facts[0].shape_hash})
    flag = first(flags, 1, "PAYLOAD_DUPLICATED_ACROSS_BATTERIES")
    assert flag.severity == Severity.WARNING


def test_payload_duplicate_is_critical():
    context, facts, duplicates, _ = _payload_copied_from_another_battery()
    flag = first(
        evaluate_history(context, facts, duplicates_elsewhere=duplicates),
        3,
        "PAYLOAD_DUPLICATED_ACROSS_BATTERIES",
    )
    assert (flag.details, flag.severity) == ({"kind": "payload"}, Severity.CRITICAL)


# ---------------------------------------------------------------------------------------------------
# Re-evaluation of the whole history
# ---------------------------------------------------------------------------------------------------


def test_late_arriving_older_snapshot_changes_the_flags_of_its_neighbours():
    payloads = history(3)
    t1, t2, t3 = payloads
    t2["soh_pct"] = t1["soh_pct"] + 5.0
    t2["cycle_count"] = t3["cycle_count"] + 50
    on_time = facts_of([t1, t3], first_id=1)
    late = facts_of([t2], first_id=3)  # arrives last, captured between the two others
    assert only_flags(evaluate_history(LFP, on_time)) == {}
    flags = only_flags(evaluate_history(LFP, [*on_time, *late]))
    assert flags == {3: ["SOH_RISING"], 2: ["CYCLES_DECREASING"]}


def test_late_arriving_snapshot_can_clear_a_neighbours_flag():
    payloads = history(3)
    t1, t2, t3 = payloads
    t3["soh_pct"] = t1["soh_pct"] + 3.0
    t2["soh_pct"] = t1["soh_pct"] + 1.5
    on_time = facts_of([t1, t3], first_id=1)
    assert only_flags(evaluate_history(LFP, on_time)) == {2: ["SOH_RISING"]}
    late = facts_of([t2], first_id=3)
    assert only_flags(evaluate_history(LFP, [*late, *on_time])) == {}


def test_late_arrival_shows_the_sequence_was_out_of_order():
    payloads = history(3)
    payloads[1]["sequence"] = 9
    on_time = facts_of([payloads[0], payloads[2]], first_id=1)
    late = facts_of([payloads[1]], first_id=3)
    assert only_flags(evaluate_history(LFP, on_time)) == {}
    assert only_flags(evaluate_history(LFP, [*on_time, *late])) == {2: ["TIMESTAMPS_OUT_OF_ORDER"]}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_flags_do_not_depend_on_the_order_the_history_is_given_in(seed):
    payloads = history(8)
    payloads[3]["soh_pct"] += 4
    payloads[5]["cycle_count"] = 1
    facts = facts_of(payloads)
    shuffled = facts[:]
    random.Random(seed).shuffle(shuffled)
    assert rule_ids(evaluate_history(LFP, shuffled)) == rule_ids(evaluate_history(LFP, facts))


def test_snapshots_captured_at_the_same_instant_are_ordered_by_arrival():
    one = lfp_payload(sequence=1, device_id="BMS-A")
    other = lfp_payload(
        sequence=1, device_id="BMS-B", cycle_count=700, seed=4, throughput_kwh=one["throughput_kwh"]
    )
    facts = facts_of([one, other])
    flags = only_flags(evaluate_history(LFP, list(reversed(facts))))
    assert flags == {2: ["CYCLES_DECREASING"]}


def test_duplicate_snapshot_ids_are_a_programming_error():
    facts = single()
    with pytest.raises(ValueError, match="unique"):
        evaluate_history(LFP, [facts[0], dataclasses.replace(facts[0], received_seq=9)])


# ---------------------------------------------------------------------------------------------------
# Facts derived at ingest
# ---------------------------------------------------------------------------------------------------


def test_facts_from_envelope_summarise_the_cells_and_events():
    payload = lfp_payload(faults=3, thermal_events=2)
    envelope = validate_envelope(sign_envelope(payload))
    facts = SnapshotFacts.from_envelope(envelope, id="snap-1", received_seq=7, payload_hash="ab" * 32)
    assert facts.id == "snap-1"
    assert facts.received_seq == 7
    assert facts.cell_count == 96
    assert facts.cell_voltage_sum_v == pytest.approx(sum(payload["cell_voltages_v"]))
    assert facts.cells_fingerprint == cells_fingerprint(envelope.cell_voltages_v)
    moments = [fault.at for fault in envelope.faults] + [event.ended_at for event in envelope.thermal_events]
    assert facts.latest_event_at == max(moments)
    assert facts.thermal_event_count == 2
    assert facts.alarms == dict(envelope.alarms)
    assert facts.device_id == payload["device_id"]


def test_facts_without_cell_list_or_events_have_no_summaries():
    envelope = validate_envelope(
        sign_envelope(lfp_payload(cell_voltages_v=REMOVE, faults=0, thermal_events=0))
    )
    facts = SnapshotFacts.from_envelope(envelope, id=1, received_seq=1, payload_hash="0" * 64)
    assert (facts.cell_count, facts.cell_voltage_sum_v, facts.cells_fingerprint) == (None, None, None)
    assert facts.latest_event_at is None


def test_shape_hash_ignores_identity_time_and_vehicle_but_not_measurements():
    base = lfp_payload()
    elsewhere = lfp_payload(
        battery_code=OTHER_BATTERY_CODE,
        device_id="BMS-ELSEWHERE",
        captured_at=DEFAULT_CAPTURED_AT + timedelta(days=40),
        sequence=77,
        vehicle=False,
        faults=0,
    )
    changed = copy.deepcopy(base)
    changed["cell_voltages_v"][10] = round(changed["cell_voltages_v"][10] + 0.001, 3)
    changed["cell_voltage_min_v"] = min(changed["cell_voltages_v"])
    changed["cell_voltage_max_v"] = max(changed["cell_voltages_v"])

    def shape(payload: dict[str, Any]) -> str:
        return measurement_shape_hash(validate_envelope(sign_envelope(payload)))

    assert shape(base) == shape(elsewhere)
    assert shape(base) != shape(changed)
    assert shape(base) != shape(lfp_payload(soh_pct=87.3))


def test_cells_fingerprint_depends_on_order():
    assert cells_fingerprint([3.3, 3.31]) != cells_fingerprint([3.31, 3.3])
    assert cells_fingerprint([3.3, 3.31]) == cells_fingerprint((3.3, 3.31))
