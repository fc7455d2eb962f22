"""The scan page's fast path: a shared anonymous rendering served as the whole stack sent it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from passport import fastpath, selectors
from tests.factories import BatteryFactory

pytestmark = pytest.mark.django_db

# Headers the middleware below the fast path add; a page from the fast path must carry them too.
REPLAYED = ("Content-Type", "Content-Security-Policy", "X-Frame-Options", "Vary", "Content-Language",
            "Cache-Control", "Content-Length")  # fmt: skip


def test_a_shared_page_is_sent_with_the_same_body_and_headers_without_a_query(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    first = client.get(f"/p/{battery.code}")
    with CaptureQueriesContext(connection) as queries:
        again = client.get(f"/p/{battery.code}")
    assert len(queries.captured_queries) == 0
    assert again.status_code == 200
    assert again.content == first.content
    for name in REPLAYED:
        assert again[name] == first[name], name
    assert "Set-Cookie" not in again.headers
    assert again["X-Content-Type-Options"] == "nosniff"  # the security middleware still runs above it


def test_each_language_has_its_own_shared_page(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    english = client.get(f"/p/{battery.code}")
    chinese = client.get(f"/p/{battery.code}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    again = client.get(f"/p/{battery.code}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert english["Content-Language"] == "en"
    assert chinese["Content-Language"] == again["Content-Language"] == "zh-hans"
    assert again.content == chinese.content != english.content


def test_a_query_string_or_a_session_takes_the_whole_stack(client, hnc, oem_admin):
    battery = BatteryFactory(manufacturer=hnc)
    client.get(f"/p/{battery.code}")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/p/{battery.code}?from=label").status_code == 200
    assert queries.captured_queries
    client.force_login(oem_admin)
    assert 'data-tier="legitimate_interest"' in client.get(f"/p/{battery.code}").content.decode()


def test_a_forgotten_page_is_rendered_again(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    client.get(f"/p/{battery.code}")
    selectors.forget_public_page(battery.code)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/p/{battery.code}").status_code == 200
    assert queries.captured_queries


def test_only_successful_anonymous_pages_are_shared(client, hnc):
    battery = BatteryFactory(manufacturer=hnc)
    assert client.get(f"/p/{battery.code.lower()}").status_code == 301  # not canonical: not shared
    assert client.get("/p/HNCPBAB1234567T2M000000A").status_code == 400
    assert selectors.shared_public_page(battery.code) is None
    client.get(f"/p/{battery.code}")
    assert selectors.shared_public_page(battery.code) is not None


def test_the_rate_limit_counts_each_request_once_on_either_path(client, hnc, settings):
    settings.PASSPORT_SCAN_RATE = "3/m"
    battery = BatteryFactory(manufacturer=hnc)
    statuses = [client.get(f"/p/{battery.code}", REMOTE_ADDR="10.8.8.8").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_the_middleware_is_installed_right_after_the_security_and_static_middleware(settings):
    names = list(settings.MIDDLEWARE)
    position = names.index(f"{fastpath.__name__}.PublicPageMiddleware")
    assert names[:position] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
