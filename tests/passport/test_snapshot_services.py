"""Snapshot services: each ingest rule, storage and sealing, flags, raw telemetry, holds, labs, rotation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core.envelope import SealedBox, keyring, open_box
from core.errors import Conflict, InvalidInput, NotPermitted
from passport import services as passport_services
from passport.models import AccessGrant
from passport.snapshots import services
from passport.snapshots.errors import CertificationRefused, TelemetryRefused
from passport.snapshots.models import (
    Certification,
    LegalHoldEvent,
    Snapshot,
    SnapshotFlag,
    TelemetryAccessLog,
    snapshot_aad,
)
from passport.verdict import compute_verdict
from tests.conftest import register_test_device_key
from tests.factories import lfp_battery
from tests.passport.snapshot_helpers import ingest, stored
from tests.snapshot_builders import (
    OTHER_BATTERY_CODE,
    device_key,
    ecdsa_device_key,
    lfp_history,
    lfp_payload,
    sign_envelope,
)

pytestmark = pytest.mark.django_db


def refusal(results):
    (result,) = results
    assert not result.stored
    return result.error.code


# ---------------------------------------------------------------------------------------------------
# Ingest rules
# ---------------------------------------------------------------------------------------------------
def test_ingest_stores_metadata_in_clear_and_the_payload_sealed(lfp_pack, oem_device_key, oem_org, oem_admin):
    payload = lfp_payload()
    snapshot = stored(payload, oem_org, oem_admin)
    assert (snapshot.battery, snapshot.device_key, snapshot.uploaded_by) == (
        lfp_pack,
        oem_device_key,
        oem_org,
    )
    assert (snapshot.soc_pct, snapshot.soh_pct, snapshot.cycle_count) == (61.5, 87.2, 812)
    assert snapshot.fault_count == 2
    assert snapshot.thermal_event_count == 1
    assert snapshot.faults[0].keys() == {"code", "at", "severity"}  # no free text in clear
    assert "vin" not in json.dumps(snapshot.faults + snapshot.thermal_events + [snapshot.alarms])
    assert snapshot.payload_cipher == "AES-256-GCM"
    assert snapshot.payload_kek_id == keyring().current_id
    assert b"LFV2A21K8R3000123" not in bytes(snapshot.payload_ciphertext)
    plaintext = open_box(SealedBox.from_fields(snapshot, "payload_"), aad=snapshot_aad(snapshot.payload_hash))
    assert json.loads(plaintext)["vehicle"]["vin"] == "LFV2A21K8R3000123"


def test_sealed_payload_cannot_be_opened_as_another_snapshot(lfp_pack, oem_device_key, oem_org, oem_admin):
    first, second = (stored(lfp_payload(sequence=n, seed=n), oem_org, oem_admin) for n in (1, 2))
    from core.envelope import DecryptionError

    with pytest.raises(DecryptionError):
        open_box(SealedBox.from_fields(first, "payload_"), aad=snapshot_aad(second.payload_hash))


def test_ingest_uses_the_configured_cipher(lfp_pack, oem_device_key, oem_org, oem_admin, settings):
    from core.envelope import _sm4_unavailable

    settings.TELEMETRY_CIPHER = "SM4-GCM"
    try:
        snapshot = stored(lfp_payload(), oem_org, oem_admin)
    except type(_sm4_unavailable()):
        pytest.skip("this OpenSSL build has no SM4")
    assert snapshot.payload_cipher == "SM4-GCM"


def test_ingest_accepts_ecdsa_p256_device_keys(lfp_pack, oem_org, oem_admin):
    from core import signing

    passport_services.register_device_key(
        organisation=oem_org,
        by=oem_admin,
        public_key=signing.public_key_pem(ecdsa_device_key(3)),
        purpose="bms_device",
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    snapshot = stored(lfp_payload(), oem_org, oem_admin, key=ecdsa_device_key(3))
    assert snapshot.signature_alg == "ECDSA-P256"


def test_ingest_refuses_an_unknown_key(lfp_pack, oem_org, oem_admin):
    assert refusal(ingest([lfp_payload()], oem_org, oem_admin)) == "KEY_UNKNOWN"


def test_ingest_refuses_a_key_of_another_purpose(lfp_pack, oem_org, oem_admin):
    register_test_device_key(oem_org, oem_admin, 1, purpose="registration")
    assert refusal(ingest([lfp_payload()], oem_org, oem_admin)) == "KEY_PURPOSE"


def test_ingest_refuses_an_algorithm_that_is_not_the_keys(lfp_pack, oem_device_key, oem_org, oem_admin):
    envelope = sign_envelope(
        lfp_payload(), alg="ECDSA-P256", value=base64.b64encode(b"0\x06\x02\x01\x01\x02\x01\x01").decode()
    )
    from passport.snapshots.ingest import ingest_documents

    (result,) = ingest_documents([envelope], organisation=oem_org, user=oem_admin)
    assert result.error.code == "SIGNATURE_ALG_MISMATCH"
    assert result.error.field == "signature.alg"


def test_ingest_refuses_a_payload_changed_after_signing(lfp_pack, oem_device_key, oem_org, oem_admin):
    from passport.snapshots.ingest import ingest_documents

    envelope = sign_envelope(lfp_payload())
    envelope["payload"]["soh_pct"] = 97.2
    (result,) = ingest_documents([envelope], organisation=oem_org, user=oem_admin)
    assert result.error.code == "SIGNATURE_INVALID"
    assert result.error.field == "signature.value"
    assert not Snapshot.objects.exists()


def test_ingest_refuses_a_signature_by_another_key(lfp_pack, oem_device_key, oem_org, oem_admin):
    forged = sign_envelope(lfp_payload(), key=device_key(7), key_id=oem_device_key.key_id)
    from passport.snapshots.ingest import ingest_documents

    (result,) = ingest_documents([forged], organisation=oem_org, user=oem_admin)
    assert result.error.code == "SIGNATURE_INVALID"


def test_ingest_refuses_a_key_revoked_before_capture_but_not_before(
    lfp_pack, oem_device_key, oem_org, oem_admin
):
    passport_services.revoke_device_key(
        key=oem_device_key,
        by=oem_admin,
        reason="Tester stolen",
        effective_at=datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert refusal(ingest([lfp_payload()], oem_org, oem_admin)) == "KEY_REVOKED"  # captured 1 May
    before = lfp_payload(captured_at=datetime(2026, 3, 1, tzinfo=UTC))
    assert ingest([before], oem_org, oem_admin)[0].stored


def test_ingest_refuses_captures_outside_the_key_window(lfp_pack, oem_org, oem_admin):
    register_test_device_key(
        oem_org,
        oem_admin,
        1,
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_until=datetime(2026, 4, 1, tzinfo=UTC),
    )
    early = lfp_payload(captured_at=datetime(2025, 12, 1, tzinfo=UTC))
    assert refusal(ingest([early], oem_org, oem_admin)) == "KEY_NOT_YET_VALID"
    assert refusal(ingest([lfp_payload()], oem_org, oem_admin)) == "KEY_EXPIRED"


def test_ingest_refuses_keys_of_another_organisation(lfp_pack, oem_device_key, recycler_org, recycler_admin):
    assert refusal(ingest([lfp_payload()], recycler_org, recycler_admin)) == "KEY_NOT_OWNED"


def test_ingest_refuses_an_unknown_battery(lfp_pack, oem_device_key, oem_org, oem_admin):
    results = ingest([lfp_payload(battery_code=OTHER_BATTERY_CODE)], oem_org, oem_admin)
    assert refusal(results) == "BATTERY_UNKNOWN"
    assert results[0].error.field == "payload.battery_code"


def test_ingest_normalises_the_battery_code(lfp_pack, oem_device_key, oem_org, oem_admin):
    snapshot = stored(lfp_payload(battery_code=lfp_pack.code.lower()), oem_org, oem_admin)
    assert snapshot.battery == lfp_pack


def test_reporting_needs_oem_custody_or_a_live_grant(
    lfp_pack, recycler_device_key, recycler_org, recycler_admin, oem_admin, oem_org
):
    payload = lfp_payload(device_id="TESTER-7")
    assert (
        refusal(ingest([payload], recycler_org, recycler_admin, key=device_key(2))) == "NOT_ALLOWED_TO_REPORT"
    )
    grant = passport_services.grant_access(
        battery=lfp_pack, grantee=recycler_org, by=oem_admin, valid_until=timezone.now() + timedelta(days=3)
    )
    assert ingest([payload], recycler_org, recycler_admin, key=device_key(2))[0].stored
    passport_services.revoke_access_grant(grant=grant, by=oem_admin)
    second = lfp_payload(device_id="TESTER-7", sequence=2, seed=5)
    assert (
        refusal(ingest([second], recycler_org, recycler_admin, key=device_key(2))) == "NOT_ALLOWED_TO_REPORT"
    )
    lfp_pack.current_custodian = recycler_org
    lfp_pack.save(update_fields=["current_custodian"])
    assert ingest([second], recycler_org, recycler_admin, key=device_key(2))[0].stored
    assert AccessGrant.objects.count() == 1


def test_ingest_refuses_captures_in_the_future_beyond_the_skew(lfp_pack, oem_device_key, oem_org, oem_admin):
    soon = timezone.now().replace(microsecond=0) + timedelta(minutes=3)
    assert ingest([lfp_payload(captured_at=soon)], oem_org, oem_admin)[0].stored
    later = timezone.now() + timedelta(minutes=10)
    assert (
        refusal(ingest([lfp_payload(captured_at=later, sequence=2)], oem_org, oem_admin))
        == "CAPTURED_IN_FUTURE"
    )


def test_ingest_refuses_captures_before_production(lfp_pack, oem_device_key, oem_org, oem_admin):
    before = lfp_payload(captured_at=datetime(2023, 12, 31, tzinfo=UTC))
    assert refusal(ingest([before], oem_org, oem_admin)) == "CAPTURED_BEFORE_PRODUCTION"
    # Already the production date somewhere on Earth (UTC+14): accepted.
    edge = lfp_payload(captured_at=datetime(2024, 1, 9, 11, 0, tzinfo=UTC), sequence=2)
    assert ingest([edge], oem_org, oem_admin)[0].stored


def test_ingest_refuses_replays_of_a_payload_and_of_a_sequence(lfp_pack, oem_device_key, oem_org, oem_admin):
    payload = lfp_payload()
    assert ingest([payload], oem_org, oem_admin)[0].stored
    assert refusal(ingest([payload], oem_org, oem_admin)) == "REPLAY"
    same_number = lfp_payload(soc_pct=70.0, captured_at=datetime(2026, 5, 2, tzinfo=UTC))
    assert refusal(ingest([same_number], oem_org, oem_admin)) == "REPLAY_SEQUENCE"
    assert Snapshot.objects.count() == 1


def test_ingest_refuses_replays_within_one_batch(lfp_pack, oem_device_key, oem_org, oem_admin):
    payload = lfp_payload()
    results = ingest([payload, payload], oem_org, oem_admin)
    assert [result.status for result in results] == ["stored", "refused"]
    assert results[1].error.code == "REPLAY"


def test_ingest_without_an_organisation_is_refused(lfp_pack, oem_device_key):
    from passport.snapshots.ingest import ingest_documents

    with pytest.raises(NotPermitted) as refused:
        ingest_documents([sign_envelope(lfp_payload())], organisation=None)
    assert refused.value.code == "NO_ORGANISATION"


# ---------------------------------------------------------------------------------------------------
# Flags and the verdict
# ---------------------------------------------------------------------------------------------------
def test_clean_history_passes_the_bms_history_check(lfp_pack, oem_device_key, oem_org, oem_admin):
    assert compute_verdict(lfp_pack).reasons[2].state == "unavailable"
    assert all(result.stored for result in ingest(lfp_history(12), oem_org, oem_admin))
    assert not SnapshotFlag.objects.exists()
    lfp_pack.refresh_from_db()
    reason = compute_verdict(lfp_pack).reasons[2]
    assert (reason.name, reason.state) == ("bms_history", "passed")
    assert "12 signed snapshots" in reason.explanation


def test_late_arrival_reevaluates_the_whole_history(lfp_pack, oem_device_key, oem_org, oem_admin):
    history = lfp_history(6)
    late = history.pop(2)
    late["cycle_count"] = 1000  # arrives last, captured third: its successor now counts backwards
    ingest(history, oem_org, oem_admin)
    assert not SnapshotFlag.objects.exists()
    successor = Snapshot.objects.get(sequence=4)
    ingest([late], oem_org, oem_admin)
    assert SnapshotFlag.objects.filter(snapshot=successor, rule_id="CYCLES_DECREASING").exists()
    assert SnapshotFlag.objects.filter(snapshot__sequence=3, rule_id="CYCLES_RISING_TOO_FAST").exists()
    lfp_pack.refresh_from_db()
    assert compute_verdict(lfp_pack).reasons[2].state == "failed"


def test_soh_rising_and_identical_cells_are_flagged(lfp_pack, oem_device_key, oem_org, oem_admin):
    first = lfp_payload(soh_pct=80.0, sequence=1)
    rising = lfp_payload(
        soh_pct=90.0, sequence=2, captured_at=datetime(2026, 5, 8, tzinfo=UTC), cycle_count=830
    )
    cells = [3.3] * 96
    identical = lfp_payload(
        sequence=3,
        captured_at=datetime(2026, 5, 15, tzinfo=UTC),
        cycle_count=850,
        soh_pct=89.9,
        cell_voltages_v=cells,
        cell_voltage_min_v=3.3,
        cell_voltage_max_v=3.3,
        pack_voltage_v=316.4,
    )
    ingest([first, rising, identical], oem_org, oem_admin)
    rules = set(SnapshotFlag.objects.values_list("rule_id", flat=True))
    assert {"SOH_RISING", "CELLS_IDENTICAL"} <= rules
    flag = SnapshotFlag.objects.get(rule_id="SOH_RISING")
    assert "rose from 80.0% to 90.0%" in flag.message
    assert flag.severity == "critical"


def test_data_copied_to_another_battery_is_flagged_on_both(lfp_pack, oem_device_key, oem_org, oem_admin):
    other = lfp_battery(oem_org, code=OTHER_BATTERY_CODE)
    original = lfp_payload()
    copy = lfp_payload(battery_code=other.code, sequence=2)  # same measurements, another battery
    ingest([original], oem_org, oem_admin)
    ingest([copy], oem_org, oem_admin)
    flagged = set(
        SnapshotFlag.objects.filter(rule_id="PAYLOAD_DUPLICATED_ACROSS_BATTERIES").values_list(
            "battery__code", flat=True
        )
    )
    assert flagged == {lfp_pack.code, other.code}


def test_flags_are_replaced_not_duplicated_on_reevaluation(lfp_pack, oem_device_key, oem_org, oem_admin):
    from passport.snapshots.evaluation import reevaluate_batteries

    ingest([lfp_payload(soh_pct=106.0)], oem_org, oem_admin)
    assert SnapshotFlag.objects.filter(rule_id="SOH_OUT_OF_RANGE").count() == 1
    counts = reevaluate_batteries([lfp_pack.pk])
    assert counts == {"batteries": 1, "added": 0, "removed": 0}
    assert SnapshotFlag.objects.count() == 1


def test_a_key_revoked_into_the_past_fails_the_signed_check(lfp_pack, oem_device_key, oem_org, oem_admin):
    ingest(lfp_history(3), oem_org, oem_admin)
    passport_services.revoke_device_key(
        key=oem_device_key, by=oem_admin, reason="Compromised", effective_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    lfp_pack.refresh_from_db()
    reason = compute_verdict(lfp_pack).reasons[2]
    assert reason.state == "failed"
    assert "not valid when" in reason.explanation


# ---------------------------------------------------------------------------------------------------
# Raw telemetry
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def snapshot(lfp_pack, oem_device_key, oem_org, oem_admin):
    return Snapshot.objects.select_related("battery__oem", "battery__current_custodian").get(
        pk=stored(lfp_payload(), oem_org, oem_admin).pk
    )


def test_authority_reads_raw_telemetry_and_the_read_is_logged(snapshot, regulator):
    raw = services.read_raw_telemetry(
        user=regulator, snapshot=snapshot, purpose="Inspection 2026-041 of recycler"
    )
    assert raw.payload["vehicle"]["owner"]["name"] == "张伟"
    assert raw.signature_valid
    entry = TelemetryAccessLog.objects.get()
    assert (entry.user, entry.organisation, entry.outcome) == (regulator, regulator.organisation, "granted")
    assert entry.purpose == "Inspection 2026-041 of recycler"
    assert entry.tier == "authority"


def test_raw_telemetry_is_refused_and_logged_for_everyone_else(snapshot, oem_admin, buyer_user):
    for user in (oem_admin, buyer_user):
        with pytest.raises(TelemetryRefused):
            services.read_raw_telemetry(user=user, snapshot=snapshot, purpose="Curious about this battery")
    refused = TelemetryAccessLog.objects.filter(outcome="refused")
    assert refused.count() == 2
    assert set(refused.values_list("refusal_code", flat=True)) == {"TELEMETRY_NOT_PERMITTED"}


def test_raw_telemetry_needs_a_purpose_and_an_authority_of_the_jurisdiction(snapshot, regulator):
    with pytest.raises(InvalidInput):
        services.read_raw_telemetry(user=regulator, snapshot=snapshot, purpose="why")
    from tests.factories import OrganisationFactory, member_of

    foreign = member_of(OrganisationFactory(name="Foreign regulator", kind="regulator", country="FR"))
    with pytest.raises(TelemetryRefused):
        services.read_raw_telemetry(user=foreign, snapshot=snapshot, purpose="Market surveillance in France")
    assert list(TelemetryAccessLog.objects.order_by("id").values_list("refusal_code", flat=True)) == [
        "PURPOSE_REQUIRED",
        "TELEMETRY_NOT_PERMITTED",
    ]


def test_platform_admin_outside_an_authority_cannot_read_raw_telemetry(snapshot, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    with pytest.raises(TelemetryRefused):
        services.read_raw_telemetry(user=admin, snapshot=snapshot, purpose="Support ticket 1234 check")


# ---------------------------------------------------------------------------------------------------
# Legal holds
# ---------------------------------------------------------------------------------------------------
def test_auditor_places_and_lifts_a_hold_with_history(snapshot, auditor):
    hold = services.place_legal_hold(battery=snapshot.battery, snapshot=snapshot, by=auditor, reason="Case 7")
    services.lift_legal_hold(hold=hold, by=auditor, reason="Case closed")
    hold.refresh_from_db()
    assert hold.lifted_at is not None
    assert hold.lift_reason == "Case closed"
    assert list(LegalHoldEvent.objects.filter(hold=hold).values_list("action", flat=True)) == [
        "placed",
        "lifted",
    ]
    with pytest.raises(Conflict):
        services.lift_legal_hold(hold=hold, by=auditor, reason="again")


def test_only_authorities_hold_and_a_reason_is_required(snapshot, oem_admin, regulator):
    with pytest.raises(NotPermitted):
        services.place_legal_hold(battery=snapshot.battery, by=oem_admin, reason="Mine")
    with pytest.raises(InvalidInput):
        services.place_legal_hold(battery=snapshot.battery, by=regulator, reason="  ")


# ---------------------------------------------------------------------------------------------------
# Lab designations and certifications
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def lab_key(test_lab_org, lab_admin):
    from core import signing

    private = signing.generate_private_key()
    passport_services.register_device_key(
        organisation=test_lab_org,
        by=lab_admin,
        public_key=signing.public_key_pem(private),
        purpose="certification",
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    return private


@pytest.fixture
def lab_with_access(lfp_pack, test_lab_org, oem_admin):
    passport_services.grant_access(
        battery=lfp_pack, grantee=test_lab_org, by=oem_admin, valid_until=timezone.now() + timedelta(days=30)
    )
    return test_lab_org


def statement(snapshot, **fields):
    body = {
        "battery_code": snapshot.battery.code,
        "snapshot_payload_hash": snapshot.payload_hash,
        "result": "pass: SOH 87.2% confirmed by capacity test",
        "tested_at": "2026-05-02T10:00:00Z",
    }
    body.update(fields)
    return {name: value for name, value in body.items() if value is not None}


def test_designated_lab_certifies_a_snapshot(snapshot, lab_key, lab_with_access, lab_admin, regulator):
    services.designate_lab(lab=lab_with_access, by=regulator, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    document = services.sign_certification(statement(snapshot), lab_key)
    certification = services.record_certification(document=document, by=lab_admin)
    assert (certification.snapshot, certification.battery, certification.lab) == (
        snapshot,
        snapshot.battery,
        lab_with_access,
    )
    snapshot.battery.refresh_from_db()
    assert snapshot.battery.snapshot_summary.certification_count == 1
    with pytest.raises(Conflict):
        services.record_certification(document=document, by=lab_admin)


def test_certification_of_a_grading_result(snapshot, lab_key, lab_with_access, lab_admin, regulator):
    services.designate_lab(lab=lab_with_access, by=regulator, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    body = statement(snapshot, snapshot_payload_hash=None, grading_reference="GR-2026-0042", result="grade B")
    certification = services.record_certification(
        document=services.sign_certification(body, lab_key), by=lab_admin
    )
    assert certification.snapshot is None
    assert certification.grading_reference == "GR-2026-0042"


def test_certification_needs_a_designation_on_the_test_date(
    snapshot, lab_key, lab_with_access, lab_admin, regulator
):
    document = services.sign_certification(statement(snapshot), lab_key)
    with pytest.raises(CertificationRefused) as refused:
        services.record_certification(document=document, by=lab_admin)
    assert refused.value.code == "CERT_LAB_NOT_DESIGNATED"
    designation = services.designate_lab(
        lab=lab_with_access, by=regulator, valid_from=datetime(2026, 1, 1, tzinfo=UTC)
    )
    services.withdraw_lab_designation(
        designation=designation,
        by=regulator,
        reason="Audit failed",
        effective_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    with pytest.raises(CertificationRefused) as refused:
        services.record_certification(document=document, by=lab_admin)  # tested 2 May, after withdrawal
    assert refused.value.code == "CERT_LAB_NOT_DESIGNATED"
    earlier = services.sign_certification(statement(snapshot, tested_at="2026-04-20T09:00:00Z"), lab_key)
    assert services.record_certification(document=earlier, by=lab_admin).designation == designation


def test_certification_refuses_a_tampered_statement_and_wrong_keys(
    snapshot, lab_key, lab_with_access, lab_admin, regulator, oem_admin
):
    services.designate_lab(lab=lab_with_access, by=regulator, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    document = services.sign_certification(statement(snapshot), lab_key)
    document["statement"]["result"] = "pass with flying colours"
    with pytest.raises(CertificationRefused) as refused:
        services.record_certification(document=document, by=lab_admin)
    assert refused.value.code == "SIGNATURE_INVALID"
    with pytest.raises(NotPermitted):
        services.record_certification(
            document=services.sign_certification(statement(snapshot), lab_key), by=oem_admin
        )
    assert not Certification.objects.exists()


def test_only_regulators_designate_test_labs(lab_with_access, oem_admin, regulator, recycler_org):
    with pytest.raises(NotPermitted):
        services.designate_lab(lab=lab_with_access, by=oem_admin, valid_from=timezone.now())
    with pytest.raises(InvalidInput):
        services.designate_lab(lab=recycler_org, by=regulator, valid_from=timezone.now())


def test_test_lab_registers_certification_keys_like_device_keys(
    test_lab_org, lab_admin, recycler_org, recycler_admin
):
    from core import signing

    key = passport_services.register_device_key(
        organisation=test_lab_org,
        by=lab_admin,
        public_key=signing.public_key_b64(signing.generate_private_key()),
        purpose="certification",
    )
    assert key.purpose == "certification"
    assert len(key.key_id) == 64
    with pytest.raises(InvalidInput):
        passport_services.register_device_key(
            organisation=recycler_org,
            by=recycler_admin,
            public_key=signing.public_key_b64(signing.generate_private_key()),
            purpose="certification",
        )


# ---------------------------------------------------------------------------------------------------
# Key rotation
# ---------------------------------------------------------------------------------------------------
NEW_KEK = "test-k2:" + base64.b64encode(bytes(range(100, 132))).decode()


def test_rotate_keys_rewraps_every_data_key_in_resumable_batches(
    lfp_pack, oem_device_key, oem_org, oem_admin, settings
):
    ingest(lfp_history(5), oem_org, oem_admin)
    before = {row.pk: bytes(row.payload_ciphertext) for row in Snapshot.objects.all()}
    settings.KEY_ENCRYPTION_KEYS = f"{NEW_KEK},{settings.KEY_ENCRYPTION_KEYS}"
    seen = []
    counts = services.rotate_keys(batch_size=2, progress=seen.append)
    assert (counts["rotated"], counts["batches"], counts["remaining_other_keys"]) == (5, 3, 0)
    assert [step["rotated"] for step in seen] == [2, 4, 5]
    for row in Snapshot.objects.all():
        assert row.payload_kek_id == "test-k2"
        assert bytes(row.payload_ciphertext) == before[row.pk]
        open_box(SealedBox.from_fields(row, "payload_"), aad=row.aad)
    assert services.rotate_keys(batch_size=2)["rotated"] == 0  # idempotent
