from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Notification
from core import signing
from core.errors import AppendOnlyViolation, Conflict, InvalidInput, NotPermitted
from passport import services
from passport.errors import (
    CodeError,
    DeviceKeyConflict,
    DuplicateCode,
    GrantError,
    InvalidDeviceKey,
    RegistrationError,
    SignatureError,
)
from passport.models import AccessGrant, Battery, CloneAlert, DeviceKey, DeviceKeyRevocation
from passport.services import RegistrationRequest
from tests.factories import BatteryFactory, gbt_code
from tests.passport.conftest import CELL, MODULE, PACK, signed_record

pytestmark = pytest.mark.django_db


def register(user, *items, **kwargs):
    return services.register_batteries(
        requests=[RegistrationRequest(**item) for item in items], by=user, **kwargs
    )


# Registration by the OEM
def test_register_batteries_by_oem_is_verified_and_links_pack_module_cell(oem_admin, models):
    pack, module, cell = register(
        oem_admin,
        {"code": PACK, "model": "HN-LFP-280-PACK"},
        {"code": MODULE, "model": "HN-LFP-MOD-16", "parent_code": PACK},
        {"code": CELL, "model": "HN-LFP-CELL-280", "parent_code": MODULE},
    )
    assert pack.origin == module.origin == cell.origin == Battery.Origin.VERIFIED
    assert Battery.objects.get(code=CELL).parent.code == MODULE
    assert Battery.objects.get(code=MODULE).parent.code == PACK
    assert pack.production_date == date(2026, 2, 21)
    assert pack.current_custodian == pack.oem == pack.registered_by == oem_admin.organisation
    assert (pack.manufacturer_code, pack.product_type, pack.battery_type, pack.serial) == (
        "HNC",
        "P",
        "B",
        "0000001",
    )


def test_register_batteries_accepts_children_listed_before_their_parent(oem_admin, models):
    register(
        oem_admin,
        {"code": CELL, "model": "HN-LFP-CELL-280", "parent_code": MODULE},
        {"code": MODULE, "model": "HN-LFP-MOD-16", "parent_code": PACK},
        {"code": PACK, "model": "HN-LFP-280-PACK"},
    )
    assert Battery.objects.get(code=CELL).parent.parent.code == PACK


def test_register_batteries_normalises_the_code_at_entry(oem_admin, models):
    (battery,) = register(oem_admin, {"code": " \u200b" + PACK.lower(), "model": "HN-LFP-280-PACK"})
    assert battery.code == PACK


def test_register_batteries_refuses_another_oems_manufacturer_code(oem_admin, models, zya):
    with pytest.raises(RegistrationError) as caught:
        register(oem_admin, {"code": gbt_code("ZYA"), "model": "HN-LFP-280-PACK"})
    assert caught.value.code == "MANUFACTURER_MISMATCH"
    assert caught.value.status_code == 422
    assert not Battery.objects.exists()


def test_register_batteries_refuses_unallocated_manufacturer_code(oem_admin, models):
    with pytest.raises(CodeError) as caught:
        register(oem_admin, {"code": gbt_code("QQQ"), "model": "HN-LFP-280-PACK"})
    assert (caught.value.code, caught.value.position) == ("MANUFACTURER_UNKNOWN", 1)


def test_register_batteries_refuses_a_duplicate_and_alerts_both_organisations(
    oem_admin, recycler_admin, models, django_capture_on_commit_callbacks
):
    register(oem_admin, {"code": PACK, "model": "HN-LFP-280-PACK"})
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DuplicateCode) as caught:
        register(recycler_admin, {"code": PACK})
    assert (caught.value.code, caught.value.status_code) == ("DUPLICATE_CODE", 409)
    alert = CloneAlert.objects.get()
    assert (alert.code, alert.attempted_by, alert.channel) == (PACK, recycler_admin.organisation, "api")
    alerted = set(Notification.objects.filter(level="alert").values_list("recipient__username", flat=True))
    assert alerted == {"oem-admin", "recycler-admin"}
    assert len(mail.outbox) == 2


def test_register_batteries_is_all_or_nothing(oem_admin, models):
    with pytest.raises(RegistrationError) as caught:
        register(
            oem_admin,
            {"code": PACK, "model": "HN-LFP-280-PACK"},
            {"code": MODULE, "model": "NO-SUCH-MODEL"},
            as_list=True,
        )
    assert (caught.value.code, caught.value.field) == ("MODEL_UNKNOWN", "[1].model")
    assert not Battery.objects.exists()


def test_register_batteries_refuses_the_same_code_twice_in_one_request(oem_admin, models):
    with pytest.raises(InvalidInput) as caught:
        register(
            oem_admin,
            {"code": PACK, "model": "HN-LFP-280-PACK"},
            {"code": PACK, "model": "HN-LFP-280-PACK"},
            as_list=True,
        )
    assert (caught.value.code, caught.value.field) == ("DUPLICATE_IN_REQUEST", "[1].code")


@pytest.mark.parametrize(
    ("item", "error_code", "field"),
    [
        ({"code": PACK}, "MODEL_REQUIRED", "model"),
        ({"code": MODULE, "model": "HN-LFP-280-PACK"}, "MODEL_PRODUCT_TYPE", "model"),
        (
            {"code": gbt_code("HNC", battery_type="E"), "model": "HN-LFP-280-PACK"},
            "CHEMISTRY_MISMATCH",
            "model",
        ),
        (
            {"code": PACK, "model": "HN-LFP-280-PACK", "production_date": "2026-02-22"},
            "PRODUCTION_DATE_MISMATCH",
            "production_date",
        ),
        (
            {"code": MODULE, "model": "HN-LFP-MOD-16", "parent_code": gbt_code("HNC", serial=99)},
            "PARENT_UNKNOWN",
            "parent_code",
        ),
        (
            {"code": PACK, "model": "HN-LFP-280-PACK", "original_code": gbt_code("HNC", serial=98)},
            "ORIGINAL_UNKNOWN",
            "original_code",
        ),
    ],
)
def test_register_batteries_names_the_field_of_each_refusal(oem_admin, models, item, error_code, field):
    with pytest.raises(RegistrationError) as caught:
        register(oem_admin, item)
    assert (caught.value.code, caught.value.field) == (error_code, field)


def test_register_batteries_refuses_a_module_as_parent_of_a_pack(oem_admin, models):
    register(oem_admin, {"code": MODULE, "model": "HN-LFP-MOD-16"})
    with pytest.raises(RegistrationError) as caught:
        register(oem_admin, {"code": PACK, "model": "HN-LFP-280-PACK", "parent_code": MODULE})
    assert caught.value.code == "PARENT_TYPE"


def test_register_batteries_refuses_children_of_a_refused_parent_in_the_same_upload(oem_admin, models):
    outcome = services.plan_registrations(
        requests=[
            RegistrationRequest(code=PACK, model="NO-SUCH-MODEL"),
            RegistrationRequest(code=MODULE, model="HN-LFP-MOD-16", parent_code=PACK),
        ],
        organisation=oem_admin.organisation,
    )
    assert [problem.error.code for problem in outcome.problems] == ["MODEL_UNKNOWN", "PARENT_REFUSED"]
    assert outcome.plans == []


def test_register_batteries_by_a_recycler_is_only_claimed(recycler_operator, models):
    (battery,) = register(recycler_operator, {"code": PACK})
    assert battery.origin == Battery.Origin.CLAIMED
    assert battery.oem == models["P"].oem
    assert battery.current_custodian == recycler_operator.organisation
    assert battery.status == Battery.Status.IN_CUSTODY


@pytest.mark.parametrize("user_fixture", ["recycler_viewer", "buyer_user", "regulator", "oem_viewer"])
def test_register_batteries_refuses_users_who_may_not_register(request, models, user_fixture):
    with pytest.raises(NotPermitted):
        register(request.getfixturevalue(user_fixture), {"code": PACK, "model": "HN-LFP-280-PACK"})


def test_register_batteries_by_oem_accepts_gs1_identifiers(oem_admin, models):
    (battery,) = register(
        oem_admin,
        {
            "code": "(01)09506000134352(21)HN-0001",
            "model": "HN-LFP-280-PACK",
            "production_date": date(2026, 3, 1),
        },
    )
    assert (battery.code, battery.scheme, battery.gs1_gtin, battery.gs1_serial) == (
        "010950600013435221HN-0001",
        "gs1",
        "09506000134352",
        "HN-0001",
    )
    assert battery.product_type == "P"


def test_register_batteries_needs_a_production_date_for_gs1(oem_admin, models):
    with pytest.raises(InvalidInput) as caught:
        register(oem_admin, {"code": "(01)09506000134352(21)HN-0001", "model": "HN-LFP-280-PACK"})
    assert caught.value.code == "DATE_REQUIRED"


def test_recoded_unit_links_to_its_original(oem_admin, models):
    register(oem_admin, {"code": PACK, "model": "HN-LFP-280-PACK"})
    (recoded,) = register(oem_admin, {"code": "HNCPBABT2M0000007RP", "original_code": PACK})
    assert recoded.original.code == PACK
    assert recoded.scheme == "gbt34014-recoded"


# Signed registration records
def test_signed_record_registers_with_verified_origin(recycler_operator, models, signer):
    key, private_key = signer
    record = signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")
    (battery,) = services.register_signed_records(records=[record], by=recycler_operator)
    assert battery.origin == Battery.Origin.VERIFIED
    assert battery.registration_key == key
    assert battery.registered_by == battery.current_custodian == recycler_operator.organisation
    assert battery.registration_record == record


def test_signed_record_refuses_a_changed_payload(oem_admin, models, signer):
    _key, private_key = signer
    record = signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")
    record["payload"]["model"] = "HN-LFP-MOD-16"
    with pytest.raises(SignatureError) as caught:
        services.register_signed_records(records=[record], by=oem_admin)
    assert (caught.value.code, caught.value.field) == ("SIGNATURE_INVALID", "signature.value")
    assert not Battery.objects.exists()


def test_signed_record_refuses_a_key_of_another_oem(other_oem_admin, oem_admin, models, zya):
    private_key = signing.generate_private_key()
    services.register_device_key(
        organisation=other_oem_admin.organisation,
        by=other_oem_admin,
        public_key=signing.public_key_b64(private_key),
        purpose="registration",
        valid_from=timezone.now() - timedelta(hours=1),
    )
    record = signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")
    with pytest.raises(RegistrationError) as caught:
        services.register_signed_records(records=[record], by=oem_admin)
    assert (caught.value.code, caught.value.field) == ("MANUFACTURER_MISMATCH", "payload.code")


def test_signed_record_refuses_a_key_revoked_before_signing(oem_admin, models, signer):
    key, private_key = signer
    services.revoke_device_key(
        key=key, by=oem_admin, reason="laptop stolen", effective_at=timezone.now() - timedelta(hours=2)
    )
    record = signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")
    with pytest.raises(SignatureError) as caught:
        services.register_signed_records(records=[record], by=oem_admin)
    assert caught.value.code == "KEY_NOT_VALID"


def test_signed_record_signed_before_revocation_still_verifies(oem_admin, models, signer):
    key, private_key = signer
    record = signed_record(
        private_key,
        code=PACK,
        model="HN-LFP-280-PACK",
        signed_at=(timezone.now() - timedelta(hours=3)).isoformat(),
    )
    services.revoke_device_key(
        key=key, by=oem_admin, reason="rotated", effective_at=timezone.now() - timedelta(hours=2)
    )
    (battery,) = services.register_signed_records(records=[record], by=oem_admin)
    assert battery.origin == Battery.Origin.VERIFIED


@pytest.mark.parametrize(
    ("mutate", "error_code", "field"),
    [
        (lambda record: record.update(format="other/1"), "RECORD_FORMAT", "format"),
        (lambda record: record["payload"].update(colour="red"), "UNKNOWN_FIELD", "payload.colour"),
        (lambda record: record["payload"].pop("signed_at"), "REQUIRED", "payload.signed_at"),
        (
            lambda record: record["payload"].update(signed_at="2026-01-01T00:00:00"),
            "INVALID_TIME",
            "payload.signed_at",
        ),
        (
            lambda record: record["payload"].update(signed_at="2099-01-01T00:00:00Z"),
            "SIGNED_IN_FUTURE",
            "payload.signed_at",
        ),
        (lambda record: record["signature"].update(key_id="0" * 64), "KEY_UNKNOWN", "signature.key_id"),
        (lambda record: record["signature"].update(alg="ECDSA-P256"), "SIGNATURE_ALGORITHM", "signature.alg"),
        (lambda record: record["signature"].update(value="***"), "SIGNATURE_INVALID", "signature.value"),
        (lambda record: record.pop("signature"), "RECORD_FORMAT", "record"),
    ],
)
def test_signed_record_refusals_name_the_field(oem_admin, models, signer, mutate, error_code, field):
    _key, private_key = signer
    record = signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")
    mutate(record)
    with pytest.raises((SignatureError, InvalidInput)) as caught:
        services.register_signed_records(records=[record], by=oem_admin)
    assert (caught.value.code, caught.value.field) == (error_code, field)


def test_signed_record_refuses_a_key_registered_for_another_purpose(oem_admin, models):
    private_key = signing.generate_private_key()
    services.register_device_key(
        organisation=oem_admin.organisation,
        by=oem_admin,
        public_key=signing.public_key_pem(private_key),
        purpose="bms_device",
        valid_from=timezone.now() - timedelta(hours=1),
    )
    with pytest.raises(SignatureError) as caught:
        services.register_signed_records(
            records=[signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")], by=oem_admin
        )
    assert caught.value.code == "KEY_PURPOSE"


# Device keys
def test_register_device_key_accepts_pem_and_raw_base64_with_the_same_key_id(oem_admin, recycler_admin):
    private_key = signing.generate_private_key()
    key = services.register_device_key(
        organisation=recycler_admin.organisation,
        by=recycler_admin,
        public_key=signing.public_key_b64(private_key),
        purpose="bms_device",
    )
    assert key.key_id == signing.key_id(private_key)
    assert key.algorithm == "Ed25519"
    with pytest.raises(DeviceKeyConflict) as caught:
        services.register_device_key(
            organisation=recycler_admin.organisation,
            by=recycler_admin,
            public_key=signing.public_key_pem(private_key),
            purpose="bms_device",
        )
    assert caught.value.status_code == 409


def test_register_device_key_accepts_ecdsa_p256(recycler_admin):
    private_key = signing.generate_private_key(signing.ECDSA_P256)
    key = services.register_device_key(
        organisation=recycler_admin.organisation,
        by=recycler_admin,
        public_key=signing.public_key_pem(private_key),
        purpose="bms_device",
    )
    assert key.algorithm == "ECDSA-P256"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "AAAA",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----",
    ],
)
def test_register_device_key_refuses_malformed_keys(recycler_admin, text):
    with pytest.raises(InvalidDeviceKey) as caught:
        services.register_device_key(
            organisation=recycler_admin.organisation, by=recycler_admin, public_key=text, purpose="bms_device"
        )
    assert (caught.value.code, caught.value.status_code, caught.value.field) == (
        "KEY_MALFORMED",
        400,
        "public_key",
    )


def test_register_device_key_is_for_administrators_of_the_organisation(
    recycler_operator, recycler_admin, other_recycler_admin
):
    public_key = signing.public_key_pem(signing.generate_private_key())
    with pytest.raises(NotPermitted):
        services.register_device_key(
            organisation=recycler_admin.organisation,
            by=recycler_operator,
            public_key=public_key,
            purpose="bms_device",
        )
    with pytest.raises(NotPermitted):
        services.register_device_key(
            organisation=recycler_admin.organisation,
            by=other_recycler_admin,
            public_key=public_key,
            purpose="bms_device",
        )


def test_registration_keys_belong_to_oems_and_certification_keys_to_labs(recycler_admin, lab_admin):
    public_key = signing.public_key_pem(signing.generate_private_key())
    with pytest.raises(InvalidInput) as caught:
        services.register_device_key(
            organisation=recycler_admin.organisation,
            by=recycler_admin,
            public_key=public_key,
            purpose="registration",
        )
    assert caught.value.code == "KEY_PURPOSE_NOT_ALLOWED"
    key = services.register_device_key(
        organisation=lab_admin.organisation, by=lab_admin, public_key=public_key, purpose="certification"
    )
    assert key.purpose == DeviceKey.Purpose.CERTIFICATION


def test_revoke_device_key_appends_to_an_append_only_history(oem_admin, signer):
    key, _private_key = signer
    revocation = services.revoke_device_key(key=key, by=oem_admin, reason="rotated")
    with pytest.raises(AppendOnlyViolation):
        revocation.save()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE passport_devicekeyrevocation SET reason = 'x'")


def test_device_key_revocation_refuses_raw_delete(oem_admin, signer):
    key, _private_key = signer
    services.revoke_device_key(key=key, by=oem_admin, reason="rotated")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM passport_devicekeyrevocation")
    assert DeviceKeyRevocation.objects.count() == 1


def test_clone_alerts_refuse_raw_update(oem_admin, recycler_admin, models):
    register(oem_admin, {"code": PACK, "model": "HN-LFP-280-PACK"})
    with pytest.raises(DuplicateCode):
        register(recycler_admin, {"code": PACK})
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE passport_clonealert SET channel = 'x'")


def test_revoke_device_key_needs_a_reason_and_the_owner(oem_admin, recycler_admin, signer):
    key, _private_key = signer
    with pytest.raises(InvalidInput):
        services.revoke_device_key(key=key, by=oem_admin, reason="  ")
    with pytest.raises(NotPermitted):
        services.revoke_device_key(key=key, by=recycler_admin, reason="not mine")


# Access grants
def test_grant_access_by_the_custodian_until_a_date(oem_admin, buyer_org):
    battery = BatteryFactory(manufacturer__oem=oem_admin.organisation)
    grant = services.grant_access(
        battery=battery, grantee=buyer_org, by=oem_admin, valid_until=timezone.now() + timedelta(days=7)
    )
    assert grant.is_live()
    assert AccessGrant.objects.live().filter(grantee=buyer_org).count() == 1


def test_grant_access_refuses_non_custodians_and_past_dates(oem_admin, recycler_admin, buyer_org):
    battery = BatteryFactory(manufacturer__oem=oem_admin.organisation)
    with pytest.raises(NotPermitted):
        services.grant_access(
            battery=battery,
            grantee=buyer_org,
            by=recycler_admin,
            valid_until=timezone.now() + timedelta(days=1),
        )
    with pytest.raises(InvalidInput):
        services.grant_access(
            battery=battery, grantee=buyer_org, by=oem_admin, valid_until=timezone.now() - timedelta(days=1)
        )
    with pytest.raises(GrantError):
        services.grant_access(
            battery=battery,
            grantee=oem_admin.organisation,
            by=oem_admin,
            valid_until=timezone.now() + timedelta(days=1),
        )


def test_revoke_access_grant_ends_it_once(oem_admin, buyer_org):
    battery = BatteryFactory(manufacturer__oem=oem_admin.organisation)
    grant = services.grant_access(
        battery=battery, grantee=buyer_org, by=oem_admin, valid_until=timezone.now() + timedelta(days=7)
    )
    services.revoke_access_grant(grant=grant, by=oem_admin, reason="sale fell through")
    grant.refresh_from_db()
    assert not grant.is_live()
    with pytest.raises(Conflict):
        services.revoke_access_grant(grant=grant, by=oem_admin)


# Registry
def test_allocate_manufacturer_code_is_for_platform_admins(oem_org, oem_admin, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "x")
    allocation = services.allocate_manufacturer_code(code="hn1", oem=oem_org, by=admin)
    assert allocation.code == "HN1"
    with pytest.raises(NotPermitted):
        services.allocate_manufacturer_code(code="HN2", oem=oem_org, by=oem_admin)
    with pytest.raises(Conflict):
        services.allocate_manufacturer_code(code="HN1", oem=oem_org, by=admin)


def test_create_battery_model_defaults_the_cell_window_to_the_chemistry(oem_org, oem_admin):
    model = services.create_battery_model(
        oem=oem_org,
        by=oem_admin,
        name="NMC-Pack",
        chemistry="nmc",
        product_type="P",
        rated_capacity_ah="150",
        nominal_voltage_v="355.2",
        rated_energy_kwh="53.3",
        mass_kg="380.5",
        cell_count=96,
        configuration="96s1p",
    )
    assert (str(model.cell_voltage_min_v), str(model.cell_voltage_max_v)) == ("2.800", "4.250")
    assert model.series_count == 96
    with pytest.raises(InvalidInput):
        services.create_battery_model(
            oem=oem_org,
            by=oem_admin,
            name="Bad",
            chemistry="nmc",
            product_type="P",
            rated_capacity_ah="-1",
            nominal_voltage_v="1",
            rated_energy_kwh="1",
            mass_kg="1",
            cell_count=1,
        )
