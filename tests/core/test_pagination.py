"""Paginated lists check `page` and `page_size` like any other input."""

from __future__ import annotations

import pytest

from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/organisations/"


@pytest.fixture
def client(api_as, regulator):
    for index in range(3):
        OrganisationFactory(name=f"Recycler {index}")
    return api_as(regulator)


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", "501", "null", "²"])
def test_a_page_size_that_is_no_size_is_refused_naming_it(client, value):
    response = client.get(URL, {"page_size": value})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "page_size"


@pytest.mark.parametrize("value", ["abc", "0", "-1.5e-199", "1.0"])
def test_a_page_that_is_no_page_number_is_refused_naming_it(client, value):
    response = client.get(URL, {"page": value})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "page"


def test_pages_within_range_the_last_one_and_past_it(client):
    first = client.get(URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"] is not None
    last = client.get(URL, {"page_size": 2, "page": "last"}).json()
    assert last["next"] is None
    past = client.get(URL, {"page_size": 2, "page": 99})
    assert past.status_code == 404
    assert past.json()["error"]["code"] == "NOT_FOUND"
