"""The cross-border API: status codes, permissions, scoping (another organisation's row is a 404),
response shape, filters and pinned query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crossborder import gate
from crossborder.models import TransferApproval

pytestmark = pytest.mark.django_db

APPROVALS = "/api/v1/transfer-approvals/"
LOG = "/api/v1/export-log/"


def body(recycler_org, buyer_org, **overrides):
    now = timezone.now()
    fields = {
        "holder": recycler_org.pk,
        "recipient": buyer_org.pk,
        "data_classes": ["telemetry", "personal"],
        "basis": "regulator_approval",
        "reference": "CAC-SA-2026-0042",
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=365)).isoformat(),
    }
    fields.update(overrides)
    return fields


def test_a_regulator_records_an_approval(api_as, regulator, recycler_org, buyer_org):
    response = api_as(regulator).post(APPROVALS, body(recycler_org, buyer_org), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["destination_country"] == "DE"  # defaults to the recipient's country
    assert data["status"] == "in_force"
    assert data["holder"] == {"id": recycler_org.pk, "name": recycler_org.name, "country": "CN"}
    assert data["recorded_by_organisation"] == regulator.organisation.name
    assert data["revocation"] is None


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"reference": ""}, 400, "APPROVAL_REFERENCE_REQUIRED", "reference"),
        ({"data_classes": ["public"]}, 400, "APPROVAL_CLASS_INVALID", "data_classes"),
        ({"destination_country": "ZZ"}, 400, "APPROVAL_COUNTRY_INVALID", "destination_country"),
        ({"basis": "handshake"}, 400, "INVALID_INPUT", "basis"),
        ({"recipient": 999999}, 400, "INVALID_INPUT", "recipient"),
        ({"valid_until": "2020-01-01T00:00:00Z"}, 400, "APPROVAL_PERIOD_INVALID", "valid_until"),
    ],
)
def test_bad_approvals_are_refused_naming_the_field(
    api_as, regulator, recycler_org, buyer_org, overrides, status, code, field
):
    response = api_as(regulator).post(APPROVALS, body(recycler_org, buyer_org, **overrides), format="json")
    assert response.status_code == status
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


def test_only_regulators_and_the_holders_admin_record(
    api_as, buyer_user, auditor, recycler_operator, recycler_admin, recycler_org, buyer_org, api_client
):
    for user in (buyer_user, auditor, recycler_operator):
        response = api_as(user).post(APPROVALS, body(recycler_org, buyer_org), format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "APPROVAL_NOT_PERMITTED"
    assert (
        api_as(recycler_admin).post(APPROVALS, body(recycler_org, buyer_org), format="json").status_code
        == 201
    )
    api_client.force_authenticate(user=None)
    assert api_client.get(APPROVALS).status_code == 401


def test_approvals_are_scoped_and_another_organisations_is_a_404(
    api_as, make_approval, other_recycler_admin, buyer_user, auditor, django_assert_num_queries
):
    approval = make_approval()
    assert api_as(other_recycler_admin).get(APPROVALS).json()["count"] == 0
    assert api_as(other_recycler_admin).get(f"{APPROVALS}{approval.pk}/").status_code == 404
    revoke = api_as(other_recycler_admin).post(f"{APPROVALS}{approval.pk}/revoke", {"reason": "x"})
    assert revoke.status_code == 404
    assert api_as(buyer_user).get(f"{APPROVALS}{approval.pk}/").status_code == 200
    for number in range(5):
        make_approval(reference=f"MORE-{number}")
    client = api_as(auditor)
    with django_assert_num_queries(2):  # count, one page with holder, recipient and revocation joined
        response = client.get(APPROVALS)
    assert response.json()["count"] == 6


def test_approval_filters(api_as, make_approval, auditor, french_org):
    now = timezone.now()
    make_approval(valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=5), reference="LIVE")
    make_approval(valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=5), reference="OLD")
    make_approval(recipient=french_org, destination_country="FR", reference="FR-1")
    client = api_as(auditor)

    def references(query):
        return sorted(row["reference"] for row in client.get(APPROVALS + query).json()["results"])

    assert references("?status=expired") == ["OLD"]
    assert references("?country=fr") == ["FR-1"]
    assert references(f"?recipient={french_org.pk}") == ["FR-1"]
    assert client.get(APPROVALS + "?status=bogus").status_code == 400


def test_revoke(api_as, make_approval, regulator, buyer_user):
    approval = make_approval()
    assert api_as(buyer_user).post(f"{APPROVALS}{approval.pk}/revoke", {"reason": "no"}).status_code == 403
    missing = api_as(regulator).post(f"{APPROVALS}{approval.pk}/revoke", {})
    assert (missing.status_code, missing.json()["error"]["field"]) == (400, "reason")
    response = api_as(regulator).post(f"{APPROVALS}{approval.pk}/revoke", {"reason": "Licence withdrawn"})
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert response.json()["revocation"]["reason"] == "Licence withdrawn"
    again = api_as(regulator).post(f"{APPROVALS}{approval.pk}/revoke", {"reason": "again"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "APPROVAL_ALREADY_REVOKED")
    assert TransferApproval.objects.get(pk=approval.pk).status == "revoked"


def _entry(user, recipient, outcome="not_required", channel="report", holder=None):
    return gate.log_export(
        user=user,
        recipient=recipient,
        holder=holder,
        data_classes=["telemetry"],
        data_jurisdiction="CN",
        channel=channel,
        subject="report 1",
        outcome=outcome,
    )


def test_export_log_is_scoped_filtered_and_paginated(
    api_as, recycler_admin, oem_admin, buyer_org, french_org, auditor, regulator, django_assert_num_queries
):
    _entry(recycler_admin, buyer_org)
    _entry(recycler_admin, french_org, outcome="refused", channel="history")
    _entry(oem_admin, buyer_org, channel="bundle")
    assert api_as(recycler_admin).get(LOG).json()["count"] == 2
    assert api_as(oem_admin).get(LOG).json()["count"] == 1
    for user in (auditor, regulator):
        assert api_as(user).get(LOG).json()["count"] == 3
    client = api_as(auditor)
    assert client.get(LOG + "?outcome=refused").json()["count"] == 1
    assert client.get(LOG + "?channel=bundle").json()["count"] == 1
    assert client.get(LOG + f"?recipient={buyer_org.pk}").json()["count"] == 2
    assert client.get(LOG + "?country=FR").json()["count"] == 1
    today = timezone.now().date().isoformat()
    assert client.get(LOG + f"?date={today}").json()["count"] == 3
    assert client.get(LOG + "?since=2999-01-01T00:00:00Z").json()["count"] == 0
    assert client.get(LOG + "?page_size=2").json()["next"] is not None
    assert client.get(LOG + "?outcome=maybe").status_code == 400
    with django_assert_num_queries(2):  # count, one page with every related row joined
        rows = client.get(LOG).json()["results"]
    assert set(rows[0]) >= {"at", "user", "organisation", "recipient", "outcome", "code", "scan", "approval"}
