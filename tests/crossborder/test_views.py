"""Cross-border pages: approvals (record, revoke with a reason and a confirmation) and the export log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crossborder import gate
from crossborder.models import ApprovalRevocation, TransferApproval

pytestmark = pytest.mark.django_db


def form(recycler_org, buyer_org, **overrides):
    fields = {
        "holder": recycler_org.pk,
        "recipient": buyer_org.pk,
        "destination_country": "",
        "data_classes": ["telemetry", "personal"],
        "basis": "regulator_approval",
        "reference": "CAC-SA-2026-0042",
        "valid_from": "2026-01-01",
        "valid_until": "2028-12-31",
        "notes": "",
    }
    fields.update(overrides)
    return fields


def test_a_regulator_records_an_approval_on_the_page(client, regulator, recycler_org, buyer_org):
    client.force_login(regulator)
    page = client.get(reverse("crossborder:approvals"))
    assert b'data-testid="approval-form"' in page.content
    response = client.post(reverse("crossborder:approvals"), form(recycler_org, buyer_org))
    approval = TransferApproval.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("crossborder:approval", args=[approval.pk])
    assert approval.destination_country == "DE"
    assert approval.valid_until.isoformat().startswith("2028-12-31T23:59:59")


def test_errors_show_on_their_field(client, regulator, recycler_org, buyer_org):
    client.force_login(regulator)
    response = client.post(reverse("crossborder:approvals"), form(recycler_org, buyer_org, reference=""))
    assert response.status_code == 200
    assert response.context["form"].errors["reference"] == [
        "Give the approval number from the regulator's portal."
    ]
    assert not TransferApproval.objects.exists()


def test_members_without_the_right_see_the_list_without_the_form(
    client, make_approval, recycler_operator, other_recycler_admin
):
    approval = make_approval()
    client.force_login(recycler_operator)
    page = client.get(reverse("crossborder:approvals"))
    assert approval.reference.encode() in page.content
    assert b'data-testid="approval-form"' not in page.content
    assert client.post(reverse("crossborder:approvals"), {}).status_code == 404
    client.force_login(other_recycler_admin)  # may record for itself, but sees nothing of others
    page = client.get(reverse("crossborder:approvals"))
    assert approval.reference.encode() not in page.content
    assert client.get(reverse("crossborder:approval", args=[approval.pk])).status_code == 404


def test_revoking_needs_a_reason_and_a_confirmation(client, make_approval, recycler_admin, buyer_user):
    approval = make_approval()
    url = reverse("crossborder:approval", args=[approval.pk])
    client.force_login(buyer_user)
    assert b'data-testid="revoke-form"' not in client.get(url).content
    assert client.post(url, {"reason": "x", "confirm": "on"}).status_code == 404
    client.force_login(recycler_admin)
    page = client.get(url)
    assert b"data-confirm=" in page.content
    unconfirmed = client.post(url, {"reason": "Contract ended"})
    assert "confirm" in unconfirmed.context["form"].errors
    assert "reason" in client.post(url, {"confirm": "on"}).context["form"].errors
    assert not ApprovalRevocation.objects.exists()
    response = client.post(url, {"reason": "Contract ended", "confirm": "on"}, follow=True)
    assert b'data-testid="revocation"' in response.content
    assert ApprovalRevocation.objects.get().reason == "Contract ended"


def test_export_log_page_filters_and_scopes(
    client, recycler_admin, oem_admin, buyer_org, french_org, auditor
):
    for user, recipient, outcome in (
        (recycler_admin, buyer_org, "not_required"),
        (recycler_admin, french_org, "refused"),
        (oem_admin, buyer_org, "not_required"),
    ):
        gate.log_export(
            user=user,
            recipient=recipient,
            data_classes=["telemetry"],
            data_jurisdiction="CN",
            channel="report",
            subject=f"report for {recipient.name}",
            outcome=outcome,
            code="CROSS_BORDER_NOT_APPROVED" if outcome == "refused" else "",
        )
    url = reverse("crossborder:export-log")
    client.force_login(auditor)
    assert len(client.get(url).context["page"]) == 3
    refused = client.get(url, {"outcome": "refused"})
    assert [entry.recipient for entry in refused.context["page"]] == [french_org]
    assert b"CROSS_BORDER_NOT_APPROVED" in refused.content
    assert len(client.get(url, {"country": "DE", "since": "2020-01-01"}).context["page"]) == 2
    client.force_login(oem_admin)
    assert len(client.get(url).context["page"]) == 1


def test_the_menu_links_to_the_approvals(client, buyer_user):
    client.force_login(buyer_user)
    page = client.get(reverse("core:dashboard"))
    assert reverse("crossborder:approvals").encode() in page.content


def test_the_approvals_page_filters_by_status(client, make_approval, auditor):
    now = timezone.now()
    make_approval(reference="LIVE-1", valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=9))
    make_approval(reference="OLD-1", valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1))
    client.force_login(auditor)
    expired = client.get(reverse("crossborder:approvals"), {"status": "expired"})
    assert [approval.reference for approval in expired.context["approvals"]] == ["OLD-1"]
    assert b"LIVE-1" not in expired.content
    assert len(client.get(reverse("crossborder:approvals")).context["approvals"]) == 2
