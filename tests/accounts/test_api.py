from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_token_create_returns_token_for_valid_credentials(api_client, recycler_admin):
    response = api_client.post("/api/v1/auth/token", {"username": "recycler-admin", "password": PASSWORD})
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_token_create_refuses_wrong_password_with_error_envelope(api_client, recycler_admin):
    response = api_client.post("/api/v1/auth/token", {"username": "recycler-admin", "password": "wrong"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_token_create_names_missing_field(api_client):
    response = api_client.post("/api/v1/auth/token", {"username": "someone"})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "INVALID_INPUT",
        "message": "This field is required.",
        "field": "password",
        "details": {"password": ["This field is required."]},
        "reason": "required",
    }


def test_token_authenticates_later_requests(api_client, recycler_admin):
    token = api_client.post("/api/v1/auth/token", {"username": "recycler-admin", "password": PASSWORD}).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert api_client.get("/api/schema/").status_code == 200
