"""The recycler's pages: intake with checks before confirming, steps from the battery page, transfers,
recycling into lots, the timeline, the lot pages and the audit page."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from custody import services
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.lots.models import MaterialLot
from custody.transfers.models import Transfer
from passport.models import Battery
from tests.conftest import PASSWORD
from tests.factories import FacilityFactory, gbt_code

pytestmark = pytest.mark.django_db

MODULE = gbt_code("HNC", product_type="M", serial=2)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    forget_all()
    cache.clear()


def signed_in(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def page_testids(html: str) -> set[str]:
    return set(re.findall(r'data-testid="([^"]+)"', html))


def key_of(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html).group(1)


def test_intake_shows_origin_status_and_licence_before_confirming(
    client, registered_pack, recycler_operator, recycler_site
):
    signed_in(client, recycler_operator)
    html = client.get(
        "/custody/intake/", {"code": registered_pack.code.lower(), "facility": recycler_site.pk}
    ).content.decode()
    assert 'data-testid="intake-preview" data-ready="true"' in html
    assert "Registered by the manufacturer" in html
    assert "is covered by licence" in html
    assert not CustodyEvent.objects.filter(type="intake").exists()
    form = {
        "code": registered_pack.code,
        "facility": recycler_site.pk,
        "idempotency_key": key_of(html),
        "note": "bay 3",
    }
    response = client.post("/custody/intake/", form)
    assert response.status_code == 302
    assert response["Location"] == f"/batteries/{registered_pack.code}/timeline"
    again = client.post("/custody/intake/", form)  # the same form sent twice: one intake
    assert again.status_code == 302
    assert CustodyEvent.objects.filter(battery=registered_pack, type="intake").count() == 1


def test_the_htmx_check_returns_the_preview_alone(client, registered_pack, recycler_operator, recycler_site):
    signed_in(client, recycler_operator)
    html = client.get(
        "/custody/intake/",
        {"code": registered_pack.code, "facility": recycler_site.pk},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert html.lstrip().startswith("<article")
    assert "intake-confirm" in html


def test_intake_preview_warns_of_an_unlicensed_site_and_offers_no_confirmation(
    client, registered_pack, recycler_operator
):
    bare = FacilityFactory(organisation=recycler_operator.organisation, name="Yard")
    signed_in(client, recycler_operator)
    html = client.get(
        "/custody/intake/", {"code": registered_pack.code, "facility": bare.pk}
    ).content.decode()
    assert 'data-ready="false"' in html
    assert 'data-code="NO_LICENCE"' in html
    assert "intake-confirm" not in page_testids(html)


def test_intake_preview_explains_an_unknown_or_malformed_code(
    client, hnc_models, recycler_operator, recycler_site
):
    signed_in(client, recycler_operator)
    unknown = client.get(
        "/custody/intake/", {"code": gbt_code("HNC", serial=404), "facility": recycler_site.pk}
    ).content.decode()
    assert 'data-code="BATTERY_NOT_FOUND"' in unknown
    malformed = client.get(
        "/custody/intake/", {"code": "HNC123", "facility": recycler_site.pk}
    ).content.decode()
    assert 'data-code="CODE_LENGTH"' in malformed


def test_the_custodian_records_steps_from_the_battery_page(
    client, registered_pack, recycler_operator, recycler_site
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    signed_in(client, recycler_operator)
    html = client.get(f"/custody/batteries/{registered_pack.code}/").content.decode()
    assert {
        "step-graded",
        "step-dismantled",
        "step-repurposed",
        "step-disposed",
        "step-transfer",
    } <= page_testids(html)
    response = client.post(
        f"/custody/batteries/{registered_pack.code}/graded/",
        {"facility": recycler_site.pk, "grade": "B", "method": "capacity test", "idempotency_key": "g1"},
    )
    assert response.status_code == 302
    refused = client.post(
        f"/custody/batteries/{registered_pack.code}/dismantled/",
        {"facility": recycler_site.pk, "components": "HNC-BAD", "idempotency_key": "d1"},
    )
    assert refused.status_code == 400
    assert "CODE_LENGTH" in refused.content.decode()
    client.post(
        f"/custody/batteries/{registered_pack.code}/dismantled/",
        {"facility": recycler_site.pk, "components": MODULE, "idempotency_key": "d2"},
    )
    assert Battery.objects.get(code=registered_pack.code).status == "dismantled"
    assert Battery.objects.get(code=MODULE).status == "in_custody"


def test_others_see_no_step_forms_and_strangers_no_page(
    client, registered_pack, recycler_operator, buyer_user, oem_admin
):
    signed_in(client, oem_admin)
    assert "step-graded" not in page_testids(
        client.get(f"/custody/batteries/{registered_pack.code}/").content.decode()
    )
    signed_in(client, buyer_user)
    assert client.get(f"/custody/batteries/{registered_pack.code}/").status_code == 404
    assert client.get(f"/batteries/{registered_pack.code}/timeline").status_code == 404


def test_a_transfer_is_offered_from_the_battery_page_and_accepted_on_the_transfers_page(
    client, registered_pack, recycler_operator, recycler_site, other_recycler_admin, other_recycler_site
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    signed_in(client, recycler_operator)
    response = client.post(
        f"/custody/batteries/{registered_pack.code}/transfer/",
        {"to_facility": other_recycler_site.pk, "idempotency_key": "t1"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/custody/transfers/"
    transfer = Transfer.objects.get()
    signed_in(client, other_recycler_admin)
    html = client.get("/custody/transfers/").content.decode()
    assert f"accept-{registered_pack.code}" in page_testids(html)
    client.post(f"/custody/transfers/{transfer.pk}/accept/")
    assert Battery.objects.get(pk=registered_pack.pk).current_custodian == other_recycler_admin.organisation
    client.post(f"/custody/transfers/{transfer.pk}/accept/")
    from django.contrib.messages import get_messages

    assert any(
        "TRANSFER_NOT_PENDING" in str(message)
        for message in get_messages(client.get("/custody/transfers/").wsgi_request)
    )


def test_recycling_from_the_page_opens_the_lots_passport(
    client, registered_pack, recycler_operator, recycler_site
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    services.record_dismantling(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, components=[MODULE]
    )
    signed_in(client, recycler_operator)
    assert MODULE in client.get("/custody/recycle/", {"code": MODULE}).content.decode()
    form = {
        "facility": recycler_site.pk,
        "inputs": f"{MODULE}, 80",
        "losses_kg": "1",
        "material_0": "black_mass",
        "mass_0": "79",
        "idempotency_key": "r1",
    }
    bad = client.post("/custody/recycle/", {**form, "mass_0": "70"})
    assert bad.status_code == 400
    assert "MASS_BALANCE" in bad.content.decode()
    response = client.post("/custody/recycle/", form)
    lot = MaterialLot.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/lots/{lot.code}"
    html = client.get(f"/custody/lots/{lot.code}/").content.decode()
    assert {"lot-step-split", "lot-step-merge", "lot-step-transfer"} <= page_testids(html)
    client.post(
        f"/custody/lots/{lot.code}/split/",
        {"facility": recycler_site.pk, "parts": "40, 39", "losses_kg": "0", "idempotency_key": "s1"},
    )
    assert MaterialLot.objects.get(code=lot.code).status == "split"


def test_the_timeline_shows_each_events_site_licence_and_proof(
    client, registered_pack, recycler_operator, recycler_site
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    signed_in(client, recycler_operator)
    html = client.get(f"/batteries/{registered_pack.code}/timeline").content.decode()
    assert {"event-0", "event-1", "licence-1", "proof-1", "bundle-link"} <= page_testids(html)
    assert 'data-testid="licence-1" data-flagged="false"' in html
    assert 'data-in-log="false"' in html
    assert "Ganzhou plant" in html
    assert "Asia/Shanghai" in html


def test_the_home_page_and_the_audit_page(
    client, registered_pack, recycler_operator, recycler_site, regulator
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    signed_in(client, recycler_operator)
    html = client.get("/custody/").content.decode()
    assert f"held-{registered_pack.code}" in page_testids(html)
    assert client.get("/custody/audit/").status_code == 404
    services.run_self_audit()
    signed_in(client, regulator)
    assert "audit-runs" in page_testids(client.get("/custody/audit/").content.decode())
    dashboard = signed_in(client, recycler_operator).get("/").content.decode()
    assert "custody-panel" in page_testids(dashboard)
