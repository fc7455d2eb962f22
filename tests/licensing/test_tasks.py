from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from core.models import JobRun
from licensing import services, tasks
from licensing.models import LicenceEvent
from tests.factories import FacilityFactory, LicenceFactory, member_of
from tests.licensing.conftest import local

pytestmark = pytest.mark.django_db


def _expired(licence):
    return list(licence.events.filter(kind="expired").values_list("effective_at", flat=True))


def test_expiry_job_records_expiry_at_the_local_end_of_the_last_day(licence):
    services.run_expiry_job(now=local("2026-06-30 23:59:59"))
    assert _expired(licence) == []
    run = services.run_expiry_job(now=local("2026-07-01 00:05"))
    assert _expired(licence) == [local("2026-07-01 00:00")]
    event = licence.events.get(kind="expired")
    assert event.actor is None
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.counts["expired"] == 1


def test_expiry_job_is_idempotent_and_exact_when_run_late(licence):
    services.run_expiry_job(now=local("2026-07-09 03:00"))
    second = services.run_expiry_job(now=local("2026-07-10 03:00"))
    assert _expired(licence) == [local("2026-07-01 00:00")]
    assert second.counts["expired"] == 0


def test_expiry_job_records_a_new_expiry_after_a_renewal_lapses(regulator, licence):
    services.run_expiry_job(now=local("2026-07-02 00:00"))
    services.renew_licence(
        by=regulator,
        licence=licence,
        valid_until=date(2027, 6, 30),
        reason="late renewal",
        effective_at=local("2026-07-05 00:00"),
    )
    services.run_expiry_job(now=local("2026-08-01 00:00"))
    assert _expired(licence) == [local("2026-07-01 00:00")]
    services.run_expiry_job(now=local("2027-07-01 00:00"))
    assert _expired(licence) == [local("2026-07-01 00:00"), local("2027-07-01 00:00")]


def test_expiry_job_skips_revoked_and_open_ended_licences(regulator, facility):
    revoked = LicenceFactory(facility=facility)
    services.revoke_licence(by=regulator, licence=revoked, reason="r", effective_at=local("2025-01-01 00:00"))
    listing = LicenceFactory(facility=facility, kind="miit_recycling", valid_until=None)
    services.run_expiry_job(now=local("2030-01-01 00:00"))
    assert _expired(revoked) == []
    assert _expired(listing) == []


def test_expiry_job_writes_a_failed_jobrun_when_it_fails():
    with pytest.raises(ValueError):
        services.run_expiry_job(now=local("2026-07-01 00:00").replace(tzinfo=None))


def _warnings(user):
    return list(
        Notification.objects.filter(recipient=user, dedup_key__contains=":warn:").values_list(
            "dedup_key", flat=True
        )
    )


def test_expiry_warnings_go_out_90_30_and_7_days_ahead_once_each(licence, recycler_admin, recycler_operator):
    key = f"licence:{licence.pk}:warn:%s:2026-06-30"
    services.run_expiry_job(now=local("2026-04-01 00:00"))  # 91 days ahead: nothing yet
    assert _warnings(recycler_admin) == []
    services.run_expiry_job(now=local("2026-04-03 00:00"))
    services.run_expiry_job(now=local("2026-04-04 00:00"))
    assert _warnings(recycler_admin) == [key % 90]
    services.run_expiry_job(now=local("2026-06-02 00:00"))
    services.run_expiry_job(now=local("2026-06-25 00:00"))
    services.run_expiry_job(now=local("2026-06-25 00:00"))
    assert sorted(_warnings(recycler_admin)) == sorted([key % 90, key % 30, key % 7])
    assert _warnings(recycler_operator) == []  # admins only
    notice = Notification.objects.get(recipient=recycler_admin, dedup_key=key % 7)
    assert notice.level == "warning"
    assert licence.number in notice.subject
    assert "2026-06-30" in notice.body
    assert "Asia/Shanghai" in notice.body
    assert notice.link == f"/facilities/{licence.facility_id}/"
    assert len(mail.outbox) == 3
    assert mail.outbox[0].to == [recycler_admin.email]
    assert settings.PUBLIC_BASE_URL in mail.outbox[0].body


def test_expiry_warning_late_run_sends_only_the_nearest_threshold(licence, recycler_admin):
    run = services.run_expiry_job(now=local("2026-06-26 00:00"))
    assert _warnings(recycler_admin) == [f"licence:{licence.pk}:warn:7:2026-06-30"]
    assert run.counts == {"expired": 0, "warned_7": 1, "warned_30": 0, "warned_90": 0, "emailed": 1}


def test_expiry_warnings_start_again_after_a_renewal(regulator, licence, recycler_admin):
    services.run_expiry_job(now=local("2026-06-26 00:00"))
    services.renew_licence(
        by=regulator,
        licence=licence,
        valid_until=date(2026, 9, 30),
        reason="short renewal",
        effective_at=local("2026-06-27 00:00"),
    )
    services.run_expiry_job(now=local("2026-09-25 00:00"))
    assert f"licence:{licence.pk}:warn:7:2026-09-30" in _warnings(recycler_admin)


def test_expiry_warnings_skip_revoked_licences(regulator, licence, recycler_admin):
    services.revoke_licence(by=regulator, licence=licence, reason="r", effective_at=local("2026-01-01 00:00"))
    services.run_expiry_job(now=local("2026-06-26 00:00"))
    assert _warnings(recycler_admin) == []


def _job_queries(now) -> int:
    with CaptureQueriesContext(connection) as captured:
        services.run_expiry_job(now=now)
    return len(captured.captured_queries)


def test_expiry_job_query_count_does_not_grow_with_the_number_of_licences(recycler_org):
    member_of(recycler_org, "admin", username="admin-a")
    facility = FacilityFactory(organisation=recycler_org)
    LicenceFactory(facility=facility, valid_until=date(2026, 6, 30))
    LicenceFactory(facility=facility, valid_until=date(2026, 7, 20))
    few = _job_queries(local("2026-07-01 00:00"))
    for index in range(30):
        other = FacilityFactory(organisation=recycler_org)
        LicenceFactory(facility=other, valid_until=date(2027, 6, 30) - timedelta(days=index))
        LicenceFactory(facility=other, valid_until=date(2027, 7, 20) + timedelta(days=index))
    many = _job_queries(local("2027-07-01 00:00"))
    assert LicenceEvent.objects.filter(kind="expired").count() == 32
    assert Notification.objects.filter(dedup_key__contains=":warn:").count() == 31
    assert many == few


def test_run_expiry_job_task_calls_the_service(licence):
    run_id = tasks.run_expiry_job(now=local("2026-07-01 00:05").isoformat())
    assert JobRun.objects.get(pk=run_id).job == "licensing.run_expiry_job"
    assert _expired(licence) == [local("2026-07-01 00:00")]


def test_beat_runs_the_expiry_job_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["licensing-expiry"]
    assert entry["task"] == "licensing.run_expiry_job"
    assert entry["schedule"].hour == {16}


def test_run_licence_expiry_command_runs_the_job(licence, capsys):
    call_command("run_licence_expiry", "--now", "2026-07-01T00:05:00+08:00")
    assert "expired=1" in capsys.readouterr().out
    assert _expired(licence) == [local("2026-07-01 00:00")]


def test_run_licence_expiry_command_refuses_a_naive_time():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("run_licence_expiry", "--now", "2026-07-01T00:05:00")
