from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode

from core import signing
from passport.models import Battery, DeviceKey
from tests.factories import BatteryFactory, gbt_code
from tests.passport.conftest import MODULE, PACK, signed_record

pytestmark = pytest.mark.django_db


# Codes
def test_code_explain_is_public_and_explains_each_segment(api_client, hnc):
    response = api_client.get(f"/api/v1/codes/{PACK}")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["registered"] is False
    assert [segment["name"] for segment in body["segments"]][:3] == [
        "manufacturer",
        "product_type",
        "battery_type",
    ]
    assert body["segments"][0]["meaning"] == hnc.oem.name


def test_code_explain_reports_the_first_error_with_position(api_client, hnc):
    body = api_client.get("/api/v1/codes/HNCXBAB1234567T2M0000001").json()
    assert body["valid"] is False
    assert body["error"]["code"] == "PRODUCT_TYPE"
    assert body["error"]["position"] == 4
    assert body["segments"][1]["valid"] is False


# Registration
def test_battery_register_single_object_returns_201(api_as, oem_admin, models):
    response = api_as(oem_admin).post(
        "/api/v1/batteries/", {"code": PACK, "model": "HN-LFP-280-PACK"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["code"] == PACK
    assert response.json()["origin"] == "verified"
    assert response.json()["passport_url"] == f"https://passport.test/p/{PACK}"


def test_battery_register_list_returns_a_list(api_as, oem_admin, models):
    response = api_as(oem_admin).post(
        "/api/v1/batteries/",
        [
            {"code": PACK, "model": "HN-LFP-280-PACK"},
            {"code": MODULE, "model": "HN-LFP-MOD-16", "parent_code": PACK},
        ],
        format="json",
    )
    assert response.status_code == 201
    assert [item["code"] for item in response.json()] == [PACK, MODULE]
    assert response.json()[1]["parent_code"] == PACK


def test_battery_register_names_the_failing_item_and_field(api_as, oem_admin, models):
    response = api_as(oem_admin).post(
        "/api/v1/batteries/",
        [{"code": PACK, "model": "HN-LFP-280-PACK"}, {"code": "HNCPBAB1234567T2M000000"}],
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "CODE_LENGTH"
    assert response.json()["error"]["field"] == "[1].code"
    assert not Battery.objects.exists()


def test_battery_register_missing_field_is_400_with_path(api_as, oem_admin, models):
    response = api_as(oem_admin).post("/api/v1/batteries/", [{"model": "x"}], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "[0].code"


def test_battery_register_duplicate_is_409(api_as, oem_admin, recycler_admin, models):
    api_as(oem_admin).post("/api/v1/batteries/", {"code": PACK, "model": "HN-LFP-280-PACK"}, format="json")
    response = api_as(recycler_admin).post("/api/v1/batteries/", {"code": PACK}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "DUPLICATE_CODE"


def test_battery_register_manufacturer_mismatch_is_422(api_as, oem_admin, models, zya):
    response = api_as(oem_admin).post(
        "/api/v1/batteries/", {"code": gbt_code("ZYA"), "model": "HN-LFP-280-PACK"}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "MANUFACTURER_MISMATCH"


def test_battery_register_is_refused_to_buyers(api_as, buyer_user, models):
    response = api_as(buyer_user).post("/api/v1/batteries/", {"code": PACK}, format="json")
    assert response.status_code == 403


def test_battery_register_accepts_signed_records(api_as, recycler_operator, models, signer):
    _key, private_key = signer
    record = signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")
    response = api_as(recycler_operator).post("/api/v1/batteries/", [record], format="json")
    assert response.status_code == 201, response.json()
    assert response.json()[0]["origin"] == "verified"
    assert response.json()[0]["signed_with"] == signing.key_id(private_key)


def test_battery_register_signed_error_names_the_record(api_as, oem_admin, models, signer):
    _key, private_key = signer
    good = signed_record(private_key, code=PACK, model="HN-LFP-280-PACK")
    bad = signed_record(private_key, code=MODULE, model="HN-LFP-MOD-16")
    bad["payload"]["code"] = gbt_code("HNC", product_type="M", serial=5)
    response = api_as(oem_admin).post("/api/v1/batteries/", [good, bad], format="json")
    assert response.status_code == 422
    assert response.json()["error"] | {"message": ""} == {
        "code": "SIGNATURE_INVALID",
        "field": "[1].signature.value",
        "message": "",
    }


def test_battery_list_is_scoped_to_the_caller(api_as, oem_admin, other_recycler_admin, models):
    BatteryFactory(manufacturer=models["P"].oem.manufacturer_codes.get())
    assert api_as(oem_admin).get("/api/v1/batteries/").json()["count"] == 1
    assert api_as(other_recycler_admin).get("/api/v1/batteries/").json()["count"] == 0


def test_battery_list_uses_a_fixed_number_of_queries(
    api_as, oem_admin, models, django_assert_max_num_queries
):
    for _ in range(5):
        BatteryFactory(manufacturer=models["P"].oem.manufacturer_codes.get())
    client = api_as(oem_admin)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/batteries/")
    for _ in range(20):
        BatteryFactory(manufacturer=models["P"].oem.manufacturer_codes.get())
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/api/v1/batteries/").json()["count"] == 25


# Passport by tier
def test_passport_is_public_for_anonymous_readers(api_client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    body = api_client.get(f"/api/v1/batteries/{battery.code}/").json()
    assert body["tier"] == "public"
    names = {attribute["name"] for attribute in body["attributes"]}
    assert {"batteryChemistry", "ratedCapacity", "nominalVoltage", "manufacturerInformation"} <= names
    assert "batteryStatus" not in names
    assert "expectedLifetime" not in names
    assert body["verdict"]["reasons"][0] == {
        "name": "origin",
        "label": "Origin verified by the OEM",
        "state": "passed",
        "explanation": f"Registered by the manufacturer, {hnc.oem.name}, itself.",
    }
    assert body["verdict"]["state"] == "incomplete"
    assert body["verdict"]["verified"] is False


def test_passport_guessing_another_organisations_code_gives_only_the_public_tier(
    api_as, other_recycler_admin, hnc
):
    battery = BatteryFactory(manufacturer=hnc)
    body = api_as(other_recycler_admin).get(f"/api/v1/batteries/{battery.code}/").json()
    assert body["tier"] == "public"


def test_passport_grantee_sees_the_legitimate_interest_tier(api_as, oem_admin, buyer_user, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    response = api_as(oem_admin).post(
        f"/api/v1/batteries/{battery.code}/grants/",
        {
            "grantee": buyer_user.organisation.pk,
            "valid_until": (timezone.now() + timedelta(days=3)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = api_as(buyer_user).get(f"/api/v1/batteries/{battery.code}/").json()
    assert body["tier"] == "legitimate_interest"
    assert "batteryStatus" in {attribute["name"] for attribute in body["attributes"]}
    grant_id = response.json()["id"]
    assert (
        api_as(oem_admin).post(f"/api/v1/access-grants/{grant_id}/revoke", {}, format="json").status_code
        == 200
    )
    assert api_as(buyer_user).get(f"/api/v1/batteries/{battery.code}/").json()["tier"] == "public"


def test_passport_regulator_of_the_jurisdiction_sees_the_authority_tier(api_as, regulator, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    assert api_as(regulator).get(f"/api/v1/batteries/{battery.code}/").json()["tier"] == "authority"


def test_passport_unknown_code_is_404_and_malformed_code_is_400(api_client, hnc):
    response = api_client.get(f"/api/v1/batteries/{PACK}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_REGISTERED"
    response = api_client.get("/api/v1/batteries/HNCPBAB1234567T2M0000000/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "SERIAL_ZERO"
    assert response.json()["error"]["position"] == 18


# QR codes
def _decode_png(content: bytes) -> str:
    symbols = decode(Image.open(BytesIO(content)), symbols=[ZBarSymbol.QRCODE])
    assert len(symbols) == 1
    return symbols[0].data.decode()


def test_qr_png_decodes_to_exactly_the_passport_url(api_client, hnc, settings):
    battery = BatteryFactory(manufacturer=hnc)
    response = api_client.get(f"/api/v1/batteries/{battery.code}/qr.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert _decode_png(response.content) == f"{settings.PUBLIC_BASE_URL}/p/{battery.code}"


def test_qr_png_of_a_gs1_battery_decodes_to_its_digital_link(api_as, api_client, oem_admin, models, settings):
    api_as(oem_admin).post(
        "/api/v1/batteries/",
        {"code": "(01)09506000134352(21)HN/1", "model": "HN-LFP-280-PACK", "production_date": "2026-01-05"},
        format="json",
    )
    api_client.force_authenticate(None)
    response = api_client.get("/api/v1/batteries/010950600013435221HN%2F1/qr.png")
    assert response.status_code == 404  # a "/" in a serial is addressed by its Digital Link only
    battery = Battery.objects.get()
    from passport import qr

    assert (
        _decode_png(qr.qr_for(battery.code, "png").content)
        == f"{settings.PUBLIC_BASE_URL}/01/09506000134352/21/HN%2F1"
    )


def test_qr_svg_is_cached_with_etag_and_never_rerendered(api_client, hnc, monkeypatch):
    from passport import qr

    battery = BatteryFactory(manufacturer=hnc)
    cache.clear()
    first = api_client.get(f"/api/v1/batteries/{battery.code}/qr.svg")
    assert first.status_code == 200
    assert first["Content-Type"] == "image/svg+xml"
    assert b"<svg" in first.content
    assert battery.code.encode() in first.content
    assert "max-age" in first["Cache-Control"]

    def refuse_to_render(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(qr, "render_svg", refuse_to_render)
    with CaptureQueriesContext(connection) as queries:
        again = api_client.get(f"/api/v1/batteries/{battery.code}/qr.svg")
    assert again.content == first.content
    assert len(queries.captured_queries) == 0
    not_modified = api_client.get(
        f"/api/v1/batteries/{battery.code}/qr.svg", HTTP_IF_NONE_MATCH=first["ETag"]
    )
    assert not_modified.status_code == 304


def test_qr_cache_follows_the_public_base_url(api_client, hnc, settings):
    battery = BatteryFactory(manufacturer=hnc)
    first = api_client.get(f"/api/v1/batteries/{battery.code}/qr.png")
    settings.PUBLIC_BASE_URL = "https://elsewhere.example"
    second = api_client.get(f"/api/v1/batteries/{battery.code}/qr.png")
    assert _decode_png(second.content) == f"https://elsewhere.example/p/{battery.code}"
    assert first["ETag"] != second["ETag"]


def test_qr_of_an_unregistered_code_is_404(api_client, hnc):
    assert api_client.get(f"/api/v1/batteries/{PACK}/qr.svg").status_code == 404


# Device keys
def test_device_key_register_list_and_revoke(api_as, recycler_admin):
    client = api_as(recycler_admin)
    private_key = signing.generate_private_key()
    response = client.post(
        "/api/v1/device-keys/",
        {
            "public_key": signing.public_key_b64(private_key),
            "purpose": "bms_device",
            "device_serial": "BMS-TESTER-7",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    key_id = response.json()["key_id"]
    assert key_id == signing.key_id(private_key)
    assert client.get("/api/v1/device-keys/").json()["count"] == 1
    response = client.post(
        f"/api/v1/device-keys/{key_id}/revoke", {"reason": "device retired"}, format="json"
    )
    assert response.status_code == 201
    assert client.get(f"/api/v1/device-keys/{key_id}/").json()["revocations"][0]["reason"] == "device retired"


def test_device_key_register_refuses_malformed_and_duplicate_keys(api_as, recycler_admin):
    client = api_as(recycler_admin)
    response = client.post(
        "/api/v1/device-keys/", {"public_key": "garbage", "purpose": "bms_device"}, format="json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "KEY_MALFORMED")
    pem = signing.public_key_pem(signing.generate_private_key())
    assert (
        client.post(
            "/api/v1/device-keys/", {"public_key": pem, "purpose": "bms_device"}, format="json"
        ).status_code
        == 201
    )
    response = client.post(
        "/api/v1/device-keys/", {"public_key": pem, "purpose": "bms_device"}, format="json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (409, "KEY_ALREADY_REGISTERED")


def test_device_keys_of_other_organisations_are_not_found(api_as, recycler_admin, other_recycler_admin):
    private_key = signing.generate_private_key()
    api_as(recycler_admin).post(
        "/api/v1/device-keys/",
        {"public_key": signing.public_key_b64(private_key), "purpose": "bms_device"},
        format="json",
    )
    client = api_as(other_recycler_admin)
    assert client.get(f"/api/v1/device-keys/{signing.key_id(private_key)}/").status_code == 404
    response = client.post(
        f"/api/v1/device-keys/{signing.key_id(private_key)}/revoke", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404
    assert DeviceKey.objects.get().revocations.count() == 0


def test_device_key_register_by_operator_is_403(api_as, recycler_operator):
    pem = signing.public_key_pem(signing.generate_private_key())
    response = api_as(recycler_operator).post(
        "/api/v1/device-keys/", {"public_key": pem, "purpose": "bms_device"}, format="json"
    )
    assert response.status_code == 403


# Registry
def test_battery_model_create_and_list(api_as, oem_admin):
    client = api_as(oem_admin)
    response = client.post(
        "/api/v1/battery-models/",
        {
            "name": "HN-NMC-150",
            "chemistry": "nmc",
            "product_type": "P",
            "rated_capacity_ah": "150",
            "nominal_voltage_v": "355.2",
            "rated_energy_kwh": "53.28",
            "mass_kg": "385",
            "cell_count": 96,
            "configuration": "96S1P",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["cell_voltage_max_v"] == "4.250"
    assert client.get("/api/v1/battery-models/").json()["count"] == 1


def test_manufacturer_codes_are_allocated_by_platform_admins(api_as, oem_admin, oem_org, django_user_model):
    response = api_as(oem_admin).post(
        "/api/v1/manufacturer-codes/", {"code": "HNX", "oem": oem_org.pk}, format="json"
    )
    assert response.status_code == 403
    root = django_user_model.objects.create_superuser("root", "root@example.test", "x")
    response = api_as(root).post(
        "/api/v1/manufacturer-codes/", {"code": "HNX", "oem": oem_org.pk}, format="json"
    )
    assert response.status_code == 201


def test_schema_documents_the_passport_endpoints(api_as, oem_admin):
    schema = api_as(oem_admin).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/codes/{code}",
        "/api/v1/batteries/",
        "/api/v1/batteries/{code}/",
        "/api/v1/device-keys/",
    ):
        assert path in paths
    assert "409" in paths["/api/v1/batteries/"]["post"]["responses"]
    assert "422" in paths["/api/v1/batteries/"]["post"]["responses"]
