"""The material lots API and the public lot page with its QR code."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.core.cache import cache
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode

from custody import services
from custody.events.licences import forget_all
from custody.lots.models import MaterialLot
from tests.factories import gbt_code

pytestmark = pytest.mark.django_db

MODULES = [gbt_code("HNC", product_type="M", serial=2), gbt_code("HNC", product_type="M", serial=3)]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    forget_all()
    cache.clear()


@pytest.fixture
def modules(registered_pack, recycler_operator, recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    services.record_dismantling(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, components=MODULES
    )
    return MODULES


def recycle_payload(site, losses="5.000"):
    return {
        "facility": site.pk,
        "inputs": [{"code": MODULES[0], "mass_kg": "80.000"}, {"code": MODULES[1], "mass_kg": "80.000"}],
        "outputs": [{"material": "black_mass", "mass_kg": "155.000"}],
        "losses_kg": losses,
    }


def test_recycling_through_the_api_creates_lots_listed_for_their_custodian(
    api_as, modules, recycler_operator, recycler_site, buyer_user
):
    client = api_as(recycler_operator)
    response = client.post("/api/v1/lots/", recycle_payload(recycler_site), format="json")
    assert response.status_code == 201, response.json()
    (lot,) = response.json()["produced"]
    listed = client.get("/api/v1/lots/?material=black_mass").json()["results"]
    assert [item["code"] for item in listed] == [lot["code"]]
    assert listed[0]["mass_kg"] == "155.000"
    assert api_as(buyer_user).get(f"/api/v1/lots/{lot['code']}/").status_code == 404
    trace = api_as(recycler_operator).get(f"/api/v1/lots/{lot['code']}/trace").json()
    assert {item["code"] for item in trace["batteries"]} == {*MODULES, gbt_code("HNC", serial=1)}
    assert trace["oems"] == ["CATL Demo OEM"]
    assert trace["lawful"] is True


def test_a_mass_balance_that_does_not_add_up_is_a_422_naming_the_difference(
    api_as, modules, recycler_operator, recycler_site
):
    response = api_as(recycler_operator).post(
        "/api/v1/lots/", recycle_payload(recycler_site, losses="4.500"), format="json"
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "MASS_BALANCE"
    assert "0.500 kg are unaccounted for" in error["message"]
    assert not MaterialLot.objects.exists()


def test_split_and_merge_through_the_api(api_as, modules, recycler_operator, recycler_site):
    client = api_as(recycler_operator)
    (lot,) = client.post("/api/v1/lots/", recycle_payload(recycler_site), format="json").json()["produced"]
    split = client.post(
        f"/api/v1/lots/{lot['code']}/events/",
        {"type": "lot_split", "facility": recycler_site.pk, "parts": ["100", "55"]},
        format="json",
    )
    assert split.status_code == 201, split.json()
    parts = [item["code"] for item in split.json()["produced"]]
    merged = client.post("/api/v1/lots/merge", {"codes": parts, "facility": recycler_site.pk}, format="json")
    assert merged.status_code == 201
    events = client.get(f"/api/v1/lots/{lot['code']}/events/").json()["results"]
    assert [event["type"] for event in events] == ["lot_created", "lot_split"]


def test_the_public_lot_page_shows_its_trace_and_a_qr_code_of_its_address(
    client, api_as, modules, recycler_operator, recycler_site, settings
):
    (lot,) = (
        api_as(recycler_operator)
        .post("/api/v1/lots/", recycle_payload(recycler_site), format="json")
        .json()["produced"]
    )
    page = client.get(f"/lots/{lot['code']}")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="lot-trace" data-lawful="true"' in html
    assert "CATL Demo OEM" in html
    assert MODULES[0] in html
    image = client.get(f"/lots/{lot['code']}/qr.png")
    (symbol,) = decode(Image.open(BytesIO(image.content)), symbols=[ZBarSymbol.QRCODE])
    assert symbol.data.decode() == f"{settings.PUBLIC_BASE_URL}/lots/{lot['code']}"
    assert client.get(f"/lots/{lot['code']}/qr.svg")["Content-Type"] == "image/svg+xml"
    assert client.get("/lots/LOT-NOSUCHLOT").status_code == 404
