from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from licensing.models import Facility, Licence, LicenceEvidence
from tests.factories import LicenceFactory
from tests.licensing.conftest import pdf

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_facility_list_shows_badges_and_filters(recycler_admin, licence, other_facility):
    page = _client(recycler_admin).get("/facilities/")
    assert page.status_code == 200
    html = page.content.decode()
    assert licence.facility.name in html
    assert other_facility.name not in html
    assert f'data-testid="licence-status-{licence.pk}"' in html
    filtered = _client(recycler_admin).get("/facilities/?status=revoked").content.decode()
    assert licence.facility.name not in filtered


def test_facility_list_shows_a_bad_filter_without_failing(regulator, licence):
    page = _client(regulator).get("/facilities/?expiring_within=-5")
    assert page.status_code == 200
    assert licence.facility.name in page.content.decode()


def test_facility_page_shows_the_timeline_in_local_time(regulator, facility):
    licence = LicenceFactory(facility=facility, valid_until=date(2099, 12, 31))
    html = _client(regulator).get(f"/facilities/{licence.facility_id}/").content.decode()
    assert "2024-01-01 00:00" in html  # issued at local midnight, not 2023-12-31 16:00 UTC
    assert f'data-testid="action-suspended-{licence.pk}"' in html
    assert 'data-confirm="' in html


def test_facility_page_of_another_organisation_is_not_found(other_recycler_admin, licence):
    assert _client(other_recycler_admin).get(f"/facilities/{licence.facility_id}/").status_code == 404


def test_facility_admin_sees_no_regulator_actions_and_is_refused(recycler_admin, licence):
    client = _client(recycler_admin)
    html = client.get(f"/facilities/{licence.facility_id}/").content.decode()
    assert "action-suspended" not in html
    assert "Upload evidence" in html
    response = client.post(
        f"/facilities/licences/{licence.pk}/events/new/", {"kind": "revoked", "reason": "x"}
    )
    assert response.status_code == 403
    assert client.get(f"/facilities/{licence.facility_id}/licences/new/").status_code == 403
    assert licence.events.count() == 1


def test_regulator_suspends_from_the_page_with_local_effective_time(regulator, licence):
    response = _client(regulator).post(
        f"/facilities/licences/{licence.pk}/events/new/",
        {"kind": "suspended", "reason": "Leaking cells", "effective_at": "2025-03-01T09:00"},
    )
    assert response.status_code == 302
    event = licence.events.get(kind="suspended")
    assert event.effective_at.isoformat() == "2025-03-01T01:00:00+00:00"


def test_regulator_action_without_reason_shows_the_error(regulator, licence):
    response = _client(regulator).post(
        f"/facilities/licences/{licence.pk}/events/new/", {"kind": "suspended"}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert licence.events.count() == 1


def test_regulator_action_refused_by_a_rule_shows_the_message(regulator, licence):
    response = _client(regulator).post(
        f"/facilities/licences/{licence.pk}/events/new/", {"kind": "reinstated", "reason": "x"}
    )
    assert response.status_code == 200
    assert "was not suspended" in response.content.decode() or "expired" in response.content.decode()


def test_regulator_issues_a_licence_from_the_page(regulator, facility):
    response = _client(regulator).post(
        f"/facilities/{facility.pk}/licences/new/",
        {
            "kind": "pollutant_discharge",
            "issuing_authority": "Ganzhou Ecology Bureau",
            "number": "PD-77",
            "activities": ["storage"],
            "valid_from": "2025-01-01",
            "valid_until": "2024-01-01",
        },
    )
    assert response.status_code == 200
    assert not Licence.objects.exists()
    response = _client(regulator).post(
        f"/facilities/{facility.pk}/licences/new/",
        {
            "kind": "pollutant_discharge",
            "issuing_authority": "Ganzhou Ecology Bureau",
            "number": "PD-77",
            "activities": ["storage"],
            "valid_from": "2025-01-01",
            "valid_until": "2029-12-31",
            "evidence": pdf(),
        },
    )
    assert response.status_code == 302
    assert Licence.objects.get().evidence_sha256


def test_facility_admin_uploads_evidence_and_downloads_it(recycler_admin, other_recycler_admin, licence):
    client = _client(recycler_admin)
    response = client.post(
        f"/facilities/licences/{licence.pk}/evidence/new/", {"file": pdf(), "note": "renewal"}
    )
    assert response.status_code == 302
    submission = LicenceEvidence.objects.get()
    download = client.get(f"/facilities/evidence/submission/{submission.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert (
        _client(other_recycler_admin).get(f"/facilities/evidence/submission/{submission.pk}/").status_code
        == 404
    )


def test_evidence_upload_of_a_bad_file_shows_an_error(recycler_admin, licence):
    response = _client(recycler_admin).post(
        f"/facilities/licences/{licence.pk}/evidence/new/",
        {"file": pdf(name="x.pdf", content=b"GIF89a")},
        follow=True,
    )
    assert "PDF, PNG or JPEG" in response.content.decode()
    assert not LicenceEvidence.objects.exists()


def test_facility_admin_registers_a_facility(recycler_admin):
    response = _client(recycler_admin).post(
        "/facilities/new/",
        {
            "organisation": recycler_admin.organisation.pk,
            "name": "Pingxiang",
            "province": "CN-JX",
            "timezone": "Asia/Shanghai",
        },
    )
    assert response.status_code == 302
    assert Facility.objects.get().name == "Pingxiang"


def test_viewer_cannot_register_a_facility(recycler_viewer):
    assert _client(recycler_viewer).get("/facilities/new/").status_code == 403


def test_dashboard_shows_the_licence_panel(regulator, recycler_admin, licence, other_facility):
    LicenceFactory(facility=other_facility)
    html = _client(regulator).get("/").content.decode()
    assert 'data-testid="licence-panel"' in html
    assert "Licences (all facilities)" in html
    own = _client(recycler_admin).get("/").content.decode()
    assert "Your facilities&#x27; licences" in own or "Your facilities' licences" in own


def test_nav_shows_facilities_to_recyclers_but_not_to_buyers(recycler_admin, buyer_user):
    assert 'href="/facilities/"' in _client(recycler_admin).get("/").content.decode()
    assert 'href="/facilities/"' not in _client(buyer_user).get("/").content.decode()
