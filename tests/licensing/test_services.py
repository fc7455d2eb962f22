from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import Notification
from core.errors import Conflict, InvalidInput, NotPermitted
from licensing import services
from licensing.models import Facility, Licence, LicenceEvent, LicenceEvidence
from tests.factories import LicenceFactory
from tests.licensing.conftest import local, oversized_pdf, pdf, png

pytestmark = pytest.mark.django_db


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()]


def _issue(by, facility, **overrides):
    values = {
        "kind": "hazardous_waste",
        "issuing_authority": "Jiangxi Provincial Department of Ecology and Environment",
        "number": "赣危废经字 0042",
        "activities": ["intake", "dismantling"],
        "valid_from": date(2025, 1, 1),
        "valid_until": date(2029, 12, 31),
    }
    values.update(overrides)
    return services.issue_licence(by=by, facility=facility, **values)


# Facilities
def test_register_facility_defaults_to_shanghai_time_in_china(recycler_admin, recycler_org):
    facility = services.register_facility(
        by=recycler_admin, organisation=recycler_org, name=" Nanchang  Works ", province="cn-jx"
    )
    assert (facility.name, facility.province, facility.country, facility.timezone) == (
        "Nanchang Works",
        "CN-JX",
        "CN",
        "Asia/Shanghai",
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"province": "JX"}, "province"),
        ({"province": "CN-QQ"}, "province"),
        ({"time_zone": "Asia/Nowhere"}, "timezone"),
        ({"time_zone": "../etc/passwd"}, "timezone"),
        ({"name": "  "}, "name"),
    ],
)
def test_register_facility_names_the_bad_field(recycler_admin, recycler_org, overrides, field):
    values = {"name": "Works", "province": "CN-JX", **overrides}
    with pytest.raises(InvalidInput) as refused:
        services.register_facility(by=recycler_admin, organisation=recycler_org, **values)
    assert refused.value.field == field
    assert not Facility.objects.exists()


def test_register_facility_outside_china_needs_a_time_zone(regulator, buyer_org):
    with pytest.raises(InvalidInput) as refused:
        services.register_facility(by=regulator, organisation=buyer_org, name="Lager", province="DE-NW")
    assert refused.value.field == "timezone"
    facility = services.register_facility(
        by=regulator, organisation=buyer_org, name="Lager", province="DE-NW", time_zone="Europe/Berlin"
    )
    assert facility.country == "DE"


def test_register_facility_refuses_another_organisations_admin(other_recycler_admin, recycler_org):
    with pytest.raises(NotPermitted):
        services.register_facility(
            by=other_recycler_admin, organisation=recycler_org, name="X", province="CN-JX"
        )


def test_register_facility_refuses_duplicate_name(recycler_admin, recycler_org, facility):
    with pytest.raises(Conflict):
        services.register_facility(
            by=recycler_admin, organisation=recycler_org, name=facility.name, province="CN-JX"
        )


# Issuance
def test_issue_licence_records_the_issued_event_at_local_midnight(regulator, facility):
    licence = _issue(regulator, facility, evidence=pdf())
    event = licence.events.get()
    assert event.kind == "issued"
    assert event.actor == regulator
    assert event.effective_at == local("2025-01-01 00:00")
    assert licence.ends_at == local("2030-01-01 00:00")
    assert licence.evidence_sha256 == event.evidence_sha256
    assert len(licence.evidence_sha256) == 64
    assert licence.activities == ["intake", "dismantling"]


def test_issue_licence_allows_an_open_ended_listing(regulator, facility):
    licence = _issue(regulator, facility, kind="miit_recycling", valid_until=None)
    assert licence.ends_at is None
    assert (
        services.ensure_permitted(facility=facility, activity="intake", at=local("2040-01-01 00:00"))
        == licence
    )


def test_issue_licence_refuses_valid_until_before_valid_from(regulator, facility):
    with pytest.raises(InvalidInput) as refused:
        _issue(regulator, facility, valid_from=date(2026, 1, 2), valid_until=date(2026, 1, 1), evidence=pdf())
    assert (refused.value.code, refused.value.field) == ("VALID_UNTIL_BEFORE_VALID_FROM", "valid_until")
    assert not Licence.objects.exists()
    assert _stored_files() == []


def test_issue_licence_refuses_duplicate_number_from_the_same_authority(regulator, facility, other_facility):
    _issue(regulator, facility)
    with pytest.raises(Conflict) as refused:
        _issue(regulator, other_facility, evidence=pdf())
    assert refused.value.code == "DUPLICATE_LICENCE_NUMBER"
    assert Licence.objects.count() == 1
    assert len(_stored_files()) == 0
    _issue(regulator, other_facility, issuing_authority="Guangdong Department of Ecology and Environment")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"kind": "fishing_licence"}, "UNKNOWN_LICENCE_KIND", "kind"),
        ({"activities": ["intake", "smelting"]}, "UNKNOWN_ACTIVITY", "activities"),
        ({"activities": []}, "INVALID_INPUT", "activities"),
        ({"number": " "}, "INVALID_INPUT", "number"),
        ({"evidence": oversized_pdf()}, "EVIDENCE_TOO_LARGE", "evidence"),
        (
            {"evidence": pdf(name="permit.exe", content=b"MZ\x90\x00")},
            "EVIDENCE_TYPE_NOT_ALLOWED",
            "evidence",
        ),
        (
            {"evidence": pdf(name="permit.pdf", content=b"<html>not a pdf</html>")},
            "EVIDENCE_TYPE_NOT_ALLOWED",
            "evidence",
        ),
        ({"evidence": png(name="scan.pdf")}, "EVIDENCE_TYPE_NOT_ALLOWED", "evidence"),
    ],
)
def test_issue_licence_refuses_bad_input_and_writes_nothing(regulator, facility, overrides, code, field):
    with pytest.raises(InvalidInput) as refused:
        _issue(regulator, facility, **overrides)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert not Licence.objects.exists()
    assert not LicenceEvent.objects.exists()
    assert _stored_files() == []


@pytest.mark.parametrize("persona", ["recycler_admin", "recycler_operator", "auditor", "buyer_user"])
def test_issue_licence_is_refused_to_anyone_but_regulators(request, facility, persona):
    with pytest.raises(NotPermitted):
        _issue(request.getfixturevalue(persona), facility)
    assert not Licence.objects.exists()


def test_platform_admin_may_issue(django_user_model, facility):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    assert _issue(admin, facility).pk


# The regulator's actions
def test_suspend_and_reinstate_licence_append_events_and_notify_the_facility(
    regulator, licence, recycler_admin
):
    suspended = services.suspend_licence(
        by=regulator,
        licence=licence,
        reason="Inspection found leaking cells",
        effective_at=local("2025-03-01 09:00"),
    )
    services.reinstate_licence(
        by=regulator, licence=licence, reason="Fixed", effective_at=local("2025-04-01 09:00")
    )
    assert list(licence.events.values_list("kind", flat=True)) == ["issued", "suspended", "reinstated"]
    assert suspended.actor == regulator
    notice = Notification.objects.get(
        recipient=recycler_admin, dedup_key=f"licence:{licence.pk}:event:{suspended.pk}"
    )
    assert notice.level == "alert"


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (services.suspend_licence, "LICENCE_ALREADY_SUSPENDED"),
        (services.revoke_licence, None),
    ],
)
def test_actions_on_a_suspended_licence(regulator, licence, action, code):
    services.suspend_licence(
        by=regulator, licence=licence, reason="r", effective_at=local("2025-03-01 09:00")
    )
    if code:
        with pytest.raises(services.LicenceError) as refused:
            action(by=regulator, licence=licence, reason="again", effective_at=local("2025-03-02 09:00"))
        assert refused.value.code == code
    else:
        assert action(
            by=regulator, licence=licence, reason="again", effective_at=local("2025-03-02 09:00")
        ).pk


def test_reinstate_refuses_an_active_licence(regulator, licence):
    with pytest.raises(services.LicenceError) as refused:
        services.reinstate_licence(
            by=regulator, licence=licence, reason="r", effective_at=local("2025-03-01 09:00")
        )
    assert refused.value.code == "LICENCE_NOT_SUSPENDED"


def test_reinstate_refuses_a_revoked_licence(regulator, licence):
    services.suspend_licence(
        by=regulator, licence=licence, reason="r", effective_at=local("2025-03-01 09:00")
    )
    services.revoke_licence(by=regulator, licence=licence, reason="r", effective_at=local("2025-03-02 09:00"))
    with pytest.raises(services.LicenceError) as refused:
        services.reinstate_licence(
            by=regulator, licence=licence, reason="r", effective_at=local("2025-03-03 09:00")
        )
    assert refused.value.code == "LICENCE_REVOKED"


def test_suspend_refuses_an_expired_licence(regulator, licence):
    with pytest.raises(services.LicenceError) as refused:
        services.suspend_licence(
            by=regulator, licence=licence, reason="late", effective_at=local("2026-07-01 00:00")
        )
    assert refused.value.code == "LICENCE_EXPIRED"
    assert licence.events.count() == 1


def test_revoke_refuses_a_second_revocation(regulator, licence):
    services.revoke_licence(
        by=regulator, licence=licence, reason="fraud", effective_at=local("2025-05-01 00:00")
    )
    with pytest.raises(services.LicenceError) as refused:
        services.revoke_licence(
            by=regulator, licence=licence, reason="again", effective_at=local("2025-04-01 00:00")
        )
    assert refused.value.code == "LICENCE_ALREADY_REVOKED"


def test_revoke_in_the_past_keeps_history_and_flags_later_steps(regulator, licence):
    from licensing import selectors

    before = list(licence.events.values_list("pk", flat=True))
    revocation = services.revoke_licence(
        by=regulator,
        licence=licence,
        reason="Permit obtained by fraud",
        effective_at=local("2025-05-01 00:00"),
    )
    assert list(licence.events.exclude(pk=revocation.pk).values_list("pk", flat=True)) == before
    assert revocation.is_retroactive
    assert selectors.flagged_by_revocation(
        revocation=selectors.revocation_of(licence_id=licence.pk),
        occurred_at=local("2025-06-01 10:00"),
        recorded_at=local("2025-06-01 10:01"),
    )


@pytest.mark.parametrize("persona", ["recycler_admin", "recycler_viewer", "auditor", "other_recycler_admin"])
def test_status_changes_are_refused_to_non_regulators(request, licence, persona):
    user = request.getfixturevalue(persona)
    for action in (services.suspend_licence, services.revoke_licence):
        with pytest.raises(NotPermitted):
            action(by=user, licence=licence, reason="self-service")
    with pytest.raises(NotPermitted):
        services.renew_licence(by=user, licence=licence, reason="self", valid_until=date(2040, 1, 1))
    assert licence.events.count() == 1


def test_actions_require_a_reason(regulator, licence):
    with pytest.raises(InvalidInput) as refused:
        services.suspend_licence(by=regulator, licence=licence, reason="  ")
    assert (refused.value.code, refused.value.field) == ("REASON_REQUIRED", "reason")


def test_renew_licence_extends_the_window_on_the_local_calendar(regulator, licence):
    event = services.renew_licence(
        by=regulator, licence=licence, valid_until=date(2031, 6, 30), reason="Renewed", evidence=pdf()
    )
    assert event.new_ends_at == local("2031-07-01 00:00")
    assert services.ensure_permitted(
        facility=licence.facility, activity="intake", at=local("2031-06-30 23:59:59")
    )


def test_renew_licence_refuses_an_earlier_date(regulator, licence):
    with pytest.raises(InvalidInput) as refused:
        services.renew_licence(by=regulator, licence=licence, valid_until=date(2026, 6, 30), reason="r")
    assert (refused.value.code, refused.value.field) == ("RENEWAL_NOT_LATER", "valid_until")


def test_renew_licence_refuses_an_open_ended_listing(regulator, facility):
    listing = LicenceFactory(facility=facility, kind="miit_recycling", valid_until=None)
    with pytest.raises(services.LicenceError) as refused:
        services.renew_licence(by=regulator, licence=listing, valid_until=date(2031, 6, 30), reason="r")
    assert refused.value.code == "LICENCE_OPEN_ENDED"


def test_change_scope_narrows_what_is_permitted(regulator, licence):
    services.change_licence_scope(
        by=regulator,
        licence=licence,
        activities=["storage", "intake"],
        reason="Dismantling line closed",
        effective_at=local("2025-06-01 00:00"),
    )
    assert services.ensure_permitted(
        facility=licence.facility, activity="intake", at=local("2025-06-02 00:00")
    )
    with pytest.raises(services.LicenceError) as refused:
        services.ensure_permitted(
            facility=licence.facility, activity="dismantling", at=local("2025-06-02 00:00")
        )
    assert refused.value.code == "SCOPE_NOT_COVERED"


def test_change_scope_refuses_unknown_activity_and_the_same_scope(regulator, licence):
    with pytest.raises(InvalidInput) as refused:
        services.change_licence_scope(by=regulator, licence=licence, activities=["melting"], reason="r")
    assert refused.value.code == "UNKNOWN_ACTIVITY"
    with pytest.raises(InvalidInput) as refused:
        services.change_licence_scope(
            by=regulator,
            licence=licence,
            activities=licence.activities,
            reason="r",
            effective_at=local("2025-01-01 00:00"),
        )
    assert refused.value.code == "SCOPE_UNCHANGED"


def test_record_licence_event_refuses_unknown_kind(regulator, licence):
    with pytest.raises(InvalidInput) as refused:
        services.record_licence_event(by=regulator, licence=licence, kind="expired", reason="r")
    assert refused.value.field == "kind"


def test_naive_effective_time_is_refused(regulator, licence):
    from datetime import datetime

    with pytest.raises(InvalidInput) as refused:
        services.suspend_licence(
            by=regulator, licence=licence, reason="r", effective_at=datetime(2025, 3, 1, 9)
        )
    assert refused.value.field == "effective_at"


# Evidence
def test_submit_evidence_stores_the_file_with_its_sha256(recycler_admin, licence):
    submission = services.submit_evidence(by=recycler_admin, licence=licence, file=png(), note="renewal")
    assert submission.content_type == "image/png"
    assert submission.size == len(png().read())
    assert len(submission.sha256) == 64
    assert submission.file.read().startswith(b"\x89PNG")


@pytest.mark.parametrize("persona", ["recycler_operator", "other_recycler_admin", "auditor"])
def test_submit_evidence_is_refused_to_others(request, licence, persona):
    with pytest.raises(NotPermitted):
        services.submit_evidence(by=request.getfixturevalue(persona), licence=licence, file=pdf())
    assert not LicenceEvidence.objects.exists()
    assert _stored_files() == []


def test_submit_evidence_refuses_files_that_are_not_pdf_or_images(recycler_admin, licence):
    with pytest.raises(InvalidInput) as refused:
        services.submit_evidence(
            by=recycler_admin, licence=licence, file=pdf(name="notes.txt", content=b"just text")
        )
    assert (refused.value.code, refused.value.field) == ("EVIDENCE_TYPE_NOT_ALLOWED", "file")
    with pytest.raises(InvalidInput) as refused:
        services.submit_evidence(by=recycler_admin, licence=licence, file=oversized_pdf())
    assert refused.value.code == "EVIDENCE_TOO_LARGE"
    assert not LicenceEvidence.objects.exists()
    assert _stored_files() == []


# ensure_permitted: what custody calls
def test_ensure_permitted_returns_the_covering_licence(licence):
    assert (
        services.ensure_permitted(
            facility=licence.facility, activity="intake", at=local("2026-06-30 23:59:59")
        )
        == licence
    )


@pytest.mark.parametrize(
    ("setup", "at", "code"),
    [
        (None, "2026-07-01 00:00:00", "LICENCE_EXPIRED"),
        ("suspended", "2025-03-02 00:00:00", "LICENCE_SUSPENDED"),
        ("revoked", "2025-03-02 00:00:00", "LICENCE_REVOKED"),
        (None, "2023-06-01 00:00:00", "NO_LICENCE"),
    ],
)
def test_ensure_permitted_raises_with_the_reason_code(regulator, licence, setup, at, code):
    if setup == "suspended":
        services.suspend_licence(
            by=regulator, licence=licence, reason="r", effective_at=local("2025-03-01 00:00")
        )
    if setup == "revoked":
        services.revoke_licence(
            by=regulator, licence=licence, reason="r", effective_at=local("2025-03-01 00:00")
        )
    with pytest.raises(services.LicenceError) as refused:
        services.ensure_permitted(facility=licence.facility, activity="intake", at=local(at))
    assert refused.value.code == code
    assert refused.value.status_code == 422


def test_ensure_permitted_refuses_unknown_activity(licence):
    with pytest.raises(InvalidInput) as refused:
        services.ensure_permitted(
            facility=licence.facility, activity="teleport", at=local("2025-01-01 00:00")
        )
    assert refused.value.field == "activity"
