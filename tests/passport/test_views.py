from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from passport import selectors, services
from passport.models import Battery, RegistrationImport
from tests.conftest import PASSWORD
from tests.factories import BatteryFactory
from tests.passport.conftest import MODULE, PACK

pytestmark = pytest.mark.django_db


def page_testids(html: str) -> set[str]:
    return set(re.findall(r'data-testid="([^"]+)"', html))


def test_passport_page_shows_verdict_reasons_and_public_attributes(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    response = client.get(f"/p/{battery.code}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="verdict" data-state="incomplete"' in html
    assert 'data-testid="reason-origin" data-state="passed"' in html
    for reason in ("licensed_sites", "bms_history", "chain_intact"):
        assert f'data-testid="reason-{reason}" data-state="unavailable"' in html
    assert {"attribute-batteryChemistry", "attribute-ratedCapacity", "custody-summary"} <= page_testids(html)
    assert "attribute-batteryStatus" not in page_testids(html)
    assert 'data-tier="public"' in html


def test_passport_page_shows_more_to_a_logged_in_custodian(client, oem_admin, hnc):
    battery = BatteryFactory(manufacturer=hnc, oem=oem_admin.organisation)
    client.force_login(oem_admin)
    html = client.get(f"/p/{battery.code}").content.decode()
    assert 'data-tier="legitimate_interest"' in html
    assert "attribute-batteryStatus" in page_testids(html)


def test_passport_page_queries_do_not_grow_with_components(client, hnc, settings):
    settings.PASSPORT_PAGE_CACHE_SECONDS = 0
    pack = BatteryFactory(manufacturer=hnc)
    with CaptureQueriesContext(connection) as small:
        assert client.get(f"/p/{pack.code}").status_code == 200
    for _ in range(30):
        BatteryFactory(manufacturer=hnc, product_type="M", parent=pack)
    with CaptureQueriesContext(connection) as large:
        assert client.get(f"/p/{pack.code}").status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries) <= 3


def test_anonymous_passport_page_is_shared_for_a_few_seconds(client, oem_admin, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    with CaptureQueriesContext(connection) as first:
        assert client.get(f"/p/{battery.code}").status_code == 200
    with CaptureQueriesContext(connection) as again:
        assert b'data-testid="verdict"' in client.get(f"/p/{battery.code}").content
    # battery, components, and one for custody's reasons and summary; none while the page is shared
    assert (len(first.captured_queries), len(again.captured_queries)) == (3, 0)
    selectors.forget_public_page(battery.code)
    with CaptureQueriesContext(connection) as after_change:
        client.get(f"/p/{battery.code}")
    assert len(after_change.captured_queries) == 3
    client.force_login(oem_admin)  # members never get the shared rendering
    assert 'data-tier="legitimate_interest"' in client.get(f"/p/{battery.code}").content.decode()


def test_passport_page_for_an_unknown_code_says_it_may_be_counterfeit(client, hnc):
    response = client.get(f"/p/{PACK}")
    assert response.status_code == 404
    html = response.content.decode()
    assert "not-registered" in page_testids(html)
    assert "counterfeit" in html
    assert hnc.oem.name not in html  # leaks nothing, not even whose prefix it is


def test_passport_page_for_a_malformed_code_explains_segment_and_position(client):
    response = client.get("/p/HNCPBAB1234567T2M000000A")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-code="SERIAL_FORMAT"' in html
    assert 'data-position="24"' in html
    assert 'data-testid="segment-serial" data-valid="false"' in html


def test_passport_page_redirects_to_the_canonical_code(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    response = client.get(f"/p/{battery.code.lower()}")
    assert response.status_code == 301
    assert response["Location"] == f"/p/{battery.code}"


def test_digital_link_resolves_to_the_same_passport(client, oem_admin, models):
    services.register_batteries(
        requests=[
            services.RegistrationRequest(
                code="(01)09506000134352(21)HN-7", model="HN-LFP-280-PACK", production_date="2026-01-02"
            )
        ],
        by=oem_admin,
    )
    response = client.get("/01/09506000134352/21/HN-7")
    assert response.status_code == 200
    assert "010950600013435221HN-7" in response.content.decode()


def test_passport_page_is_rate_limited(client, hnc, settings):
    settings.PASSPORT_SCAN_RATE = "2/m"
    battery = BatteryFactory(manufacturer=hnc)
    statuses = [client.get(f"/p/{battery.code}", REMOTE_ADDR="10.9.9.9").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_passport_page_sends_a_csp_without_inline_scripts(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    response = client.get(f"/p/{battery.code}")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<script>" not in response.content.decode()


def test_scan_page_offers_the_camera_and_a_typed_code(client):
    response = client.get("/scan/")
    html = response.content.decode()
    assert {"scanner", "code-input", "code-submit"} <= page_testids(html)
    assert "qr-scanner.umd.min.js" in html
    assert "passport/scanner.js" in html
    assert "blob:" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("typed", "location"),
    [
        (" hncpbab1234567t2m0000001 ", f"/p/{PACK}"),
        (f"https://passport.test/p/{PACK}", f"/p/{PACK}"),
        ("https://id.example/01/09506000134352/21/A-1", "/01/09506000134352/21/A-1"),
    ],
)
def test_scan_typed_code_opens_the_passport(client, typed, location):
    response = client.get("/scan/", {"code": typed})
    assert response.status_code == 302
    assert response["Location"] == location


def test_scan_typed_malformed_code_explains_the_error(client):
    response = client.get("/scan/", {"code": "HNCXBAB1234567T2M0000001"})
    assert response.status_code == 400
    assert 'data-code="PRODUCT_TYPE"' in response.content.decode()


def test_battery_list_shows_only_visible_batteries(client, oem_admin, other_recycler_admin, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    client.force_login(oem_admin)
    assert f"battery-row-{battery.code}" in page_testids(client.get("/passport/batteries/").content.decode())
    client.force_login(other_recycler_admin)
    assert f"battery-row-{battery.code}" not in page_testids(
        client.get("/passport/batteries/").content.decode()
    )


def test_import_upload_queues_the_import_and_shows_progress(
    client, oem_admin, models, django_capture_on_commit_callbacks
):
    client.force_login(oem_admin)
    upload = SimpleUploadedFile("batteries.csv", f"code,model\n{PACK},HN-LFP-280-PACK\n".encode(), "text/csv")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/passport/imports/new/", {"file": upload})
    assert response.status_code == 302
    assert len(callbacks) == 1
    job = RegistrationImport.objects.get()
    services.run_registration_import(import_id=job.pk)
    html = client.get(response["Location"]).content.decode()
    assert 'data-status="succeeded"' in html
    partial = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith("<article")
    assert Battery.objects.filter(code=PACK).exists()


def test_import_page_refuses_viewers(client, oem_viewer, models):
    client.force_login(oem_viewer)
    upload = SimpleUploadedFile("batteries.csv", b"code\nX\n", "text/csv")
    response = client.post("/passport/imports/new/", {"file": upload})
    assert response.status_code == 200
    assert "import-error" in page_testids(response.content.decode())
    assert not RegistrationImport.objects.exists()


def test_label_request_queues_a_sheet_for_selected_batteries(
    client, oem_admin, hnc, django_capture_on_commit_callbacks
):
    battery = BatteryFactory(manufacturer=hnc)
    client.force_login(oem_admin)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/passport/labels/new/", {"codes": [battery.code]})
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert 'data-status="pending"' in client.get(response["Location"]).content.decode()


def test_grant_form_lets_the_custodian_grant_and_revoke(client, oem_admin, buyer_user, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    client.force_login(oem_admin)
    until = (timezone.now() + timedelta(days=10)).date().isoformat()
    response = client.post(
        f"/passport/batteries/{battery.code}/grants/",
        {"grantee": buyer_user.organisation.pk, "valid_until": until},
    )
    assert response.status_code == 302
    grant = battery.access_grants.get()
    assert grant.is_live()
    client.post(f"/passport/batteries/{battery.code}/grants/", {"revoke": grant.pk})
    grant.refresh_from_db()
    assert grant.revoked_at is not None


def test_grant_form_is_not_found_for_non_custodians(client, buyer_user, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    client.force_login(buyer_user)
    assert client.get(f"/passport/batteries/{battery.code}/grants/").status_code == 404


def test_dashboard_shows_the_oem_panel_with_clone_alerts(client, oem_admin, recycler_admin, models):
    services.register_batteries(
        requests=[services.RegistrationRequest(code=PACK, model="HN-LFP-280-PACK")], by=oem_admin
    )
    with pytest.raises(services.registration.DuplicateCode):
        services.register_batteries(requests=[services.RegistrationRequest(code=PACK)], by=recycler_admin)
    client.force_login(oem_admin)
    html = client.get("/").content.decode()
    assert "passport-panel" in page_testids(html)
    assert "1 possible clone" in html


def test_dashboard_shows_custody_count_to_recyclers(client, recycler_operator, models):
    services.register_batteries(requests=[services.RegistrationRequest(code=MODULE)], by=recycler_operator)
    client.force_login(recycler_operator)
    assert "1 battery in your custody." in client.get("/").content.decode()


def test_login_then_passport_shows_the_tier(client, oem_admin, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    assert client.login(username="oem-admin", password=PASSWORD)
    assert 'data-tier="legitimate_interest"' in client.get(f"/p/{battery.code}").content.decode()


def test_shared_page_is_served_only_at_the_canonical_address(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    assert client.get(f"/p/{battery.code}").status_code == 200  # now shared
    response = client.get(f"/p/{battery.code.lower()}")
    assert response.status_code == 301
    assert response["Location"] == f"/p/{battery.code}"
