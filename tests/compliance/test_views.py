"""Checklist pages and report downloads: who sees what, the cards, and the logged downloads."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from compliance.report import verify_report
from core.canonical import canonicalize
from crossborder.models import ExportLogEntry
from custody.transparency.keys import log_signer
from tests.factories import licensed_facility

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(recycler_org):
    return licensed_facility(recycler_org, name="Ganzhou plant")


def test_member_sees_the_checklist_of_their_organisation(client, recycler_admin, recycler_org, site):
    client.force_login(recycler_admin)
    response = client.get(reverse("compliance:home"))
    assert response.status_code == 200
    page = response.content.decode()
    for number in range(1, 6):
        assert f'data-testid="point-{number}-status"' in page
    assert recycler_org.name in page
    assert reverse("compliance:facility", args=[site.pk]) in page
    assert "Green: in order" in page or "Amber: needs attention" in page or "Red: action required" in page
    assert reverse("licensing:facility-detail", args=[site.pk]) in page  # evidence link of point 1


def test_member_gets_404_for_another_organisation_or_its_facility(
    client, recycler_admin, other_recycler_org, recycler_org
):
    other_site = licensed_facility(other_recycler_org)
    client.force_login(recycler_admin)
    assert client.get(reverse("compliance:organisation", args=[other_recycler_org.pk])).status_code == 404
    assert client.get(reverse("compliance:facility", args=[other_site.pk])).status_code == 404
    assert (
        client.get(
            reverse("compliance:organisation-report", args=[other_recycler_org.pk, "json"])
        ).status_code
        == 404
    )
    assert client.get(reverse("compliance:organisation", args=[recycler_org.pk])).status_code == 200


def test_regulator_chooses_among_organisations_and_facilities_of_their_country(
    client, regulator, recycler_org, buyer_org, site
):
    client.force_login(regulator)
    page = client.get(reverse("compliance:home")).content.decode()
    assert reverse("compliance:organisation", args=[recycler_org.pk]) in page
    assert reverse("compliance:facility", args=[site.pk]) in page
    assert buyer_org.name not in page
    assert client.get(reverse("compliance:organisation", args=[recycler_org.pk])).status_code == 200
    assert client.get(reverse("compliance:facility", args=[site.pk])).status_code == 200
    assert client.get(reverse("compliance:organisation", args=[buyer_org.pk])).status_code == 404
    filtered = client.get(reverse("compliance:home"), {"q": "Ganzhou"}).content.decode()
    assert reverse("compliance:facility", args=[site.pk]) in filtered
    assert reverse("compliance:organisation", args=[recycler_org.pk]) not in filtered


def test_foreign_buyer_sees_no_chinese_checklist(client, buyer_user, recycler_org):
    client.force_login(buyer_user)
    assert client.get(reverse("compliance:organisation", args=[recycler_org.pk])).status_code == 404


def test_anonymous_readers_are_sent_to_log_in(client, recycler_org):
    response = client.get(reverse("compliance:organisation", args=[recycler_org.pk]))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_json_report_download_is_canonical_signed_and_logged(client, regulator, recycler_org, site):
    client.force_login(regulator)
    response = client.get(reverse("compliance:organisation-report", args=[recycler_org.pk, "json"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(response.content)
    assert canonicalize(document) == response.content
    assert document["checklist"]["organisation"]["id"] == recycler_org.pk
    verify_report(document, log_signer().verifier)  # raises if changed or signed by another key
    entry = ExportLogEntry.objects.get(channel="compliance_report")
    assert (entry.user, entry.data_classes, entry.data_jurisdiction, entry.outcome) == (
        regulator,
        ["restricted"],
        "CN",
        "not_required",
    )
    assert entry.subject == f"compliance report organisation:{recycler_org.pk} (json)"


def test_pdf_report_download_is_a_pdf_and_logged(client, recycler_admin, site):
    client.force_login(recycler_admin)
    response = client.get(reverse("compliance:facility-report", args=[site.pk, "pdf"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert ExportLogEntry.objects.filter(channel="compliance_report", subject__contains="(pdf)").count() == 1


def test_dashboard_shows_the_checklist_panel_and_menu(client, recycler_admin, site):
    client.force_login(recycler_admin)
    page = client.get(reverse("core:dashboard")).content.decode()
    assert 'data-testid="compliance-panel"' in page
    assert reverse("compliance:home") in page
