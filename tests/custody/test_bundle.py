"""Verification bundles: exactly the shared contract, checked by the offline verifier; any changed byte
of what the bundle proves makes the verifier fail and name it; payloads only for authorities."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from custody import bundle, selectors, services
from custody.events.licences import forget_all
from custody.events.models import BundleExport
from custody.lots.models import MaterialLot
from custody.transparency.keys import log_signer
from custody.transparency.models import Checkpoint, LogLeaf
from custody.verify import parse_bundle, verify_bundle
from licensing.models import Licence
from licensing.services import reinstate_licence, revoke_licence, suspend_licence
from passport.snapshots.models import TelemetryAccessLog
from tests.factories import gbt_code
from tests.passport.snapshot_helpers import stored
from tests.snapshot_builders import lfp_payload

pytestmark = pytest.mark.django_db

MODULE = gbt_code("HNC", product_type="M", serial=2)


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


def build(scope: bundle.BundleScope, reader=None) -> dict:
    text = "".join(bundle.iter_bundle(bundle.prepare_bundle(scope), reader=reader))
    return parse_bundle(text.encode())


def verify(document: dict):
    return verify_bundle(document, log_signer().verifier.vkey)


@pytest.fixture
def journey(
    registered_pack, recycler_operator, recycler_site, other_recycler_admin, other_recycler_site, test_lab_org
):
    """The pack taken in, graded, handed to the other recycler, dismantled, its module recycled."""
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    services.record_grading(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="C",
        method="x",
        lab=test_lab_org,
    )
    transfer = services.initiate_transfer(
        by=recycler_operator,
        battery_code=registered_pack.code,
        to_organisation=other_recycler_site.organisation,
        to_facility=other_recycler_site,
    ).transfer
    services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk)
    services.record_dismantling(
        by=other_recycler_admin, code=registered_pack.code, facility=other_recycler_site, components=[MODULE]
    )
    outcome = services.record_recycling(
        by=other_recycler_admin,
        facility=other_recycler_site,
        inputs=[{"code": MODULE}],
        outputs=[{"material": "black_mass", "mass_kg": "70.000"}],
        losses_kg="10.000",
    )
    return MaterialLot.objects.get(code=selectors.produced_from(outcome.event)[0]["code"])


def test_a_lots_bundle_holds_its_whole_lineage_and_verifies_offline(journey, registered_pack):
    document = build(bundle.BundleScope(lots=[journey], trace=True))
    assert document["format"] == "voltrace.custody-bundle/1"
    assert set(document) == {
        "format",
        "generated_at",
        "scope",
        "log",
        "checkpoint",
        "events",
        "snapshots",
        "keys",
        "licences",
    }
    subjects = {
        (event["body"]["subject"]["kind"], event["body"]["subject"]["code"]) for event in document["events"]
    }
    assert subjects == {("lot", journey.code), ("battery", MODULE), ("battery", registered_pack.code)}
    assert len(document["licences"]) == 2
    report = verify(document)
    assert report.ok, report.failure
    assert report.events == len(document["events"]) == 10  # pack 6, module 3, lot 1


def test_the_bundle_publishes_a_checkpoint_when_none_covers_the_events(journey):
    assert not Checkpoint.objects.exists()
    assert not LogLeaf.objects.exists()
    document = build(bundle.BundleScope(lots=[journey], trace=True))
    assert Checkpoint.objects.count() == 1
    assert document["checkpoint"]["tree_size"] == LogLeaf.objects.count()


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda d: d["events"][1]["body"]["data"].update(grade="A"), "event_hash"),
        (lambda d: d["events"][2].update(hash="0" * 64), "event_hash"),
        (lambda d: d["events"][0]["inclusion_proof_b64"].reverse(), "inclusion"),
        (
            lambda d: d.update(checkpoint={**d["checkpoint"], "tree_size": d["checkpoint"]["tree_size"] + 1}),
            "checkpoint",
        ),
        (lambda d: d["licences"][0]["intervals"][0].update(activities=[]), "licence"),
    ],
)
def test_changing_what_the_bundle_proves_makes_the_verifier_fail_and_name_it(journey, change, check):
    document = build(bundle.BundleScope(lots=[journey], trace=True))
    change(document)
    report = verify(document)
    assert not report.ok
    assert report.failure.check == check, report.failure


def test_snapshot_payloads_go_only_to_authorities_and_are_logged(
    lfp_pack, oem_org, oem_admin, oem_device_key, recycler_operator, recycler_site, auditor
):
    snapshot = stored(lfp_payload(thermal_events=0), oem_org, oem_admin)
    services.record_intake(
        by=recycler_operator, code=lfp_pack.code, facility=recycler_site, snapshots=[snapshot.payload_hash]
    )
    scope = bundle.BundleScope(batteries=[lfp_pack])
    withheld = build(scope, reader=recycler_operator)
    assert withheld["snapshots"][0]["payload"] is None
    assert withheld["keys"][0]["key_id"] == oem_device_key.key_id
    report = verify(withheld)
    assert report.ok
    assert report.snapshots_withheld
    shown = build(scope, reader=auditor)
    assert shown["snapshots"][0]["payload"]["battery_code"] == lfp_pack.code
    assert verify(shown).ok
    assert TelemetryAccessLog.objects.filter(user=auditor, outcome="granted").count() == 1


def test_licence_intervals_follow_the_history(registered_pack, recycler_operator, recycler_site, regulator):
    licence = Licence.objects.get(facility=recycler_site)
    now = timezone.now()
    suspend_licence(by=regulator, licence=licence, reason="Inspection", effective_at=now - timedelta(days=10))
    reinstate_licence(by=regulator, licence=licence, reason="Fixed", effective_at=now - timedelta(days=5))
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    (record,) = build(bundle.BundleScope(batteries=[registered_pack]))["licences"]
    assert [interval["state"] for interval in record["intervals"]] == ["active", "suspended", "active"]
    assert record["intervals"][0]["from"] == "2023-12-31T16:00:00Z"
    assert record["intervals"][-1]["until"] is None


def test_a_retroactive_revocation_makes_the_step_it_reaches_fail_verification(
    registered_pack, recycler_operator, recycler_site, regulator
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    revoke_licence(
        by=regulator,
        licence=Licence.objects.get(facility=recycler_site),
        reason="Fraud",
        effective_at=timezone.now() - timedelta(days=1),
    )
    document = build(bundle.BundleScope(batteries=[registered_pack]))
    assert document["licences"][0]["intervals"][-1]["state"] == "revoked"
    report = verify(document)
    assert not report.ok
    assert report.failure.check == "licence"


def test_export_bundle_writes_a_file_the_command_line_verifier_accepts(
    journey, registered_pack, tmp_path: Path
):
    target = tmp_path / "bundle.json"
    call_command("export_bundle", "--battery", registered_pack.code, "-o", str(target))
    assert BundleExport.objects.filter(channel="command").count() == 1
    key = log_signer().verifier.vkey
    command = [sys.executable, "-m", "custody.verify", str(target), "--log-key", key]
    result = subprocess.run(command, capture_output=True, text=True, cwd=settings.BASE_DIR, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(target.read_text())
    document["events"][0]["body"]["actor"] = "Someone Else"
    target.write_text(json.dumps(document))
    result = subprocess.run(command, capture_output=True, text=True, cwd=settings.BASE_DIR, check=False)
    assert result.returncode == 1
    assert document["events"][0]["hash"] in result.stdout + result.stderr


def test_the_bundle_api_streams_for_legitimate_interest_and_logs_the_export(
    api_as, journey, registered_pack, oem_admin, buyer_user
):
    response = api_as(oem_admin).get(f"/api/v1/batteries/{registered_pack.code}/bundle")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    document = parse_bundle(b"".join(response.streaming_content))
    assert verify(document).ok
    assert BundleExport.objects.filter(requested_by=oem_admin, channel="api").exists()
    assert api_as(buyer_user).get(f"/api/v1/batteries/{registered_pack.code}/bundle").status_code == 404
