"""The gate on the paths that send telemetry abroad: raw telemetry reads (service and API) and the
payloads of verification bundles. A German regulator holds the authority tier for a German OEM's battery,
but its data is held in China by the recycler: without an approval the read is refused and logged."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Notification
from crossborder import gate
from crossborder import services as crossborder_services
from crossborder.errors import CrossBorderRefused
from crossborder.models import ExportLogEntry
from custody import bundle
from custody import services as custody_services
from passport import access
from passport.snapshots import services
from passport.snapshots.models import Snapshot, TelemetryAccessLog
from tests.conftest import register_test_device_key
from tests.factories import OrganisationFactory, lfp_battery, member_of
from tests.passport.snapshot_helpers import stored
from tests.snapshot_builders import lfp_payload

pytestmark = pytest.mark.django_db

PURPOSE = "Market surveillance case DE-2026-17"


@pytest.fixture
def german_oem():
    return OrganisationFactory(name="Deutsche Zellen AG", kind="oem", country="DE")


@pytest.fixture
def german_regulator():
    return member_of(
        OrganisationFactory(name="Kraftfahrt-Bundesamt", kind="regulator", country="DE"), username="kba"
    )


@pytest.fixture
def held_in_china(german_oem, recycler_operator, recycler_site):
    """A German OEM's pack with two signed snapshots, taken in by the recycler in China with them."""
    admin = member_of(german_oem, username="dz-admin")
    battery = lfp_battery(german_oem)
    register_test_device_key(german_oem, admin, 1, device_serial="BMS-A1B-0000123")
    snapshots = [
        stored(
            lfp_payload(captured_at=timezone.now() - timedelta(days=days), sequence=index), german_oem, admin
        )
        for index, days in enumerate((20, 10), start=1)
    ]
    custody_services.record_intake(
        by=recycler_operator,
        code=battery.code,
        facility=recycler_site,
        snapshots=[snapshot.payload_hash for snapshot in snapshots],
    )
    return [
        Snapshot.objects.select_related("battery__oem", "battery__current_custodian").get(pk=snapshot.pk)
        for snapshot in snapshots
    ]


def _approve(regulator, recycler_org, recipient, classes=("telemetry", "personal")):
    now = timezone.now()
    return crossborder_services.record_approval(
        by=regulator,
        holder=recycler_org,
        recipient=recipient,
        destination_country=recipient.country,
        data_classes=list(classes),
        basis="regulator_approval",
        reference="CAC-SA-2026-0099",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=365),
    )


def test_the_datas_jurisdiction_is_the_custodians_country(held_in_china, recycler_org):
    battery = held_in_china[0].battery
    assert access.data_jurisdiction_of(battery) == "CN"
    assert access.jurisdictions_of(battery) == {"DE", "CN"}


def test_a_reader_abroad_is_refused_until_an_approval_is_recorded(
    held_in_china, german_regulator, regulator, recycler_org, recycler_admin
):
    snapshot = held_in_china[0]
    with pytest.raises(CrossBorderRefused) as refused:
        services.read_raw_telemetry(user=german_regulator, snapshot=snapshot, purpose=PURPOSE)
    assert refused.value.code == gate.NOT_APPROVED
    access_log = TelemetryAccessLog.objects.get()
    assert (access_log.outcome, access_log.refusal_code) == ("refused", gate.NOT_APPROVED)
    entry = ExportLogEntry.objects.get()
    assert (entry.outcome, entry.channel, entry.holder, entry.recipient) == (
        "refused",
        "api_read",
        recycler_org,
        german_regulator.organisation,
    )
    assert entry.data_classes == ["personal", "telemetry"]
    assert entry.purpose == PURPOSE
    assert Notification.objects.filter(recipient=recycler_admin, level="alert").exists()

    approval = _approve(regulator, recycler_org, german_regulator.organisation)
    raw = services.read_raw_telemetry(user=german_regulator, snapshot=snapshot, purpose=PURPOSE)
    assert raw.payload["vehicle"]["vin"]
    allowed = ExportLogEntry.objects.get(outcome="allowed")
    assert allowed.approval == approval


def test_an_approval_for_telemetry_only_does_not_cover_the_vehicle_block(
    held_in_china, german_regulator, regulator, recycler_org
):
    _approve(regulator, recycler_org, german_regulator.organisation, classes=["telemetry"])
    with pytest.raises(CrossBorderRefused) as refused:
        services.read_raw_telemetry(user=german_regulator, snapshot=held_in_china[0], purpose=PURPOSE)
    assert refused.value.code == gate.APPROVAL_MISMATCH
    assert "personal" in str(refused.value.message)


def test_a_domestic_authority_reads_without_the_gate(held_in_china, regulator):
    services.read_raw_telemetry(user=regulator, snapshot=held_in_china[0], purpose=PURPOSE)
    assert not ExportLogEntry.objects.exists()


def test_the_raw_telemetry_api_refuses_with_the_reason_and_logs(held_in_china, german_regulator, api_as):
    snapshot = held_in_china[0]
    response = api_as(german_regulator).get(f"/api/v1/snapshots/{snapshot.pk}/raw", {"purpose": PURPOSE})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == gate.NOT_APPROVED
    assert "CN" in error["message"]
    assert "Kraftfahrt-Bundesamt" in error["message"]
    assert ExportLogEntry.objects.filter(outcome="refused").count() == 1
    assert TelemetryAccessLog.objects.filter(outcome="refused").count() == 1


def test_a_bundle_withholds_payloads_from_a_reader_abroad_without_approval(
    held_in_china, german_regulator, regulator, recycler_org
):
    battery = held_in_china[0].battery
    scope = bundle.BundleScope(batteries=[battery])
    document = json.loads("".join(bundle.iter_bundle(bundle.prepare_bundle(scope), reader=german_regulator)))
    assert [item["payload"] for item in document["snapshots"]] == [None, None]
    # One refusal for the battery, not one per snapshot.
    assert list(ExportLogEntry.objects.values_list("channel", "outcome")) == [("bundle", "refused")]

    _approve(regulator, recycler_org, german_regulator.organisation)
    document = json.loads("".join(bundle.iter_bundle(bundle.prepare_bundle(scope), reader=german_regulator)))
    assert all(item["payload"]["battery_code"] == battery.code for item in document["snapshots"])
    assert ExportLogEntry.objects.filter(channel="bundle", outcome="allowed").count() == 2
