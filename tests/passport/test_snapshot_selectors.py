"""Snapshot reads other apps rely on: the history of a battery, thermal events on record, history by tier."""

from __future__ import annotations

from datetime import timedelta

import pytest

from passport.snapshots import selectors
from tests.passport.snapshot_helpers import ingest
from tests.snapshot_builders import lfp_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(lfp_pack, oem_device_key, oem_org, oem_admin):
    # Three thermal events per snapshot, each snapshot a week apart: the events of consecutive
    # snapshots overlap (3-day spacing), so counting distinct events matters.
    ingest(lfp_history(4, thermal_events=3), oem_org, oem_admin)
    return lfp_pack


def test_snapshots_for_battery_in_capture_order_with_bounds(history):
    snapshots = list(selectors.snapshots_for_battery(history))
    assert len(snapshots) == 4
    assert snapshots == sorted(snapshots, key=lambda snapshot: snapshot.captured_at)
    start = snapshots[1].captured_at
    bounded = selectors.snapshots_for_battery(
        history.pk, captured_from=start, captured_until=start + timedelta(days=8)
    )
    assert [snapshot.pk for snapshot in bounded] == [snapshots[1].pk, snapshots[2].pk]


def test_thermal_events_on_record_counts_each_event_once(history, lfp_pack, django_assert_num_queries):
    events = selectors.thermal_events_of(history)
    assert len(events) == len({(event["started_at"], event["kind"]) for event in events})
    with django_assert_num_queries(1):
        assert selectors.thermal_events_on_record(history) == len(events) > 0
    history.refresh_from_db()
    assert history.snapshot_summary.thermal_event_count == len(events)


def test_thermal_events_on_record_is_zero_without_snapshots(lfp_pack):
    assert selectors.thermal_events_on_record(lfp_pack) == 0


def test_history_for_gives_counts_to_the_public_and_details_beyond(history, oem_admin, buyer_user):
    history.refresh_from_db()
    public = selectors.history_for(battery=history, user=buyer_user)
    assert public.tier == "public"
    assert public.snapshot_count == 4
    assert public.points == ()
    detailed = selectors.history_for(battery=history, user=oem_admin)
    assert detailed.detailed
    assert len(detailed.points) == 4
    assert detailed.first_captured_at == detailed.points[0].captured_at
    assert detailed.thermal_event_count == public.thermal_event_count > 0
