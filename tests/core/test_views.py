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
