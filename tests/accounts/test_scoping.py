"""One organisation cannot reach another's objects by ID; authorities and platform admins see all."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Organisation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_visible_to_limits_an_organisation_to_its_own_rows(recycler_admin, other_recycler_admin):
    visible = Organisation.objects.visible_to(recycler_admin)
    assert list(visible) == [recycler_admin.organisation]
    assert list(Membership.objects.visible_to(recycler_admin)) == [recycler_admin.membership]


def test_visible_to_gives_authorities_everything(auditor, recycler_admin, other_recycler_admin):
    assert Organisation.objects.visible_to(auditor).count() == 3


def test_visible_to_gives_anonymous_and_unaffiliated_users_nothing(recycler_org):
    from django.contrib.auth.models import AnonymousUser

    assert not Organisation.objects.visible_to(AnonymousUser()).exists()
    assert not Organisation.objects.visible_to(UserFactory()).exists()


def test_visible_to_gives_platform_admins_everything(recycler_org, other_recycler_org):
    admin = UserFactory(is_superuser=True)
    assert Organisation.objects.visible_to(admin).count() == 2


def test_organisation_detail_of_another_organisation_is_not_found(api_as, recycler_admin, other_recycler_org):
    client = api_as(recycler_admin)
    assert client.get(f"/api/v1/organisations/{recycler_admin.organisation.pk}/").status_code == 200
    response = client.get(f"/api/v1/organisations/{other_recycler_org.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_organisation_list_is_scoped_and_paginated(api_as, recycler_admin, other_recycler_org):
    body = api_as(recycler_admin).get("/api/v1/organisations/").json()
    assert body["count"] == 1
    assert body["results"][0]["name"] == recycler_admin.organisation.name


def test_me_describes_the_user_and_their_role(api_as, recycler_operator):
    body = api_as(recycler_operator).get("/api/v1/me/").json()
    assert body["role"] == "operator"
    assert body["organisation"]["kind"] == "recycler"


def test_api_refuses_anonymous_requests_with_the_error_envelope(api_client):
    response = api_client.get("/api/v1/organisations/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"
