from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_switch_language_sets_the_cookie_and_returns_to_the_page(client):
    response = client.get("/language/", {"language": "zh-hans", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert response.cookies["django_language"].value == "zh-hans"
    page = client.get("/accounts/login/")
    assert '<html lang="zh-hans"' in page.content.decode()


def test_switch_language_refuses_to_redirect_off_site(client):
    response = client.get("/language/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_switch_language_ignores_an_unknown_language(client):
    response = client.get("/language/", {"language": "xx", "next": "/"})
    assert "django_language" not in response.cookies


def test_public_pages_carry_no_csrf_token_for_anonymous_readers(client):
    body = client.get("/accounts/login/").content.decode()
    assert "X-CSRFToken" not in body


def test_an_unknown_api_address_gets_the_error_envelope(client):
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert "/api/v1/no-such-endpoint/" in error["message"]


def test_an_unknown_page_address_gets_the_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.core.failing_urls")
def test_a_server_error_under_the_api_gets_the_envelope_and_nothing_of_the_failure(client):
    client.raise_request_exception = False
    response = client.get("/api/v1/fails")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "SERVER_ERROR"
    assert "secret detail" not in response.content.decode()
    page = client.get("/fails")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


def test_the_api_not_found_message_is_translated(client):
    response = client.get("/api/v1/no-such-endpoint/", headers={"Accept-Language": "zh-hans"})
    assert "没有 API 端点" in response.json()["error"]["message"]
