"""The periodic expiry of transfer offers: task, command, JobRun, beat schedule; safe to run twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from core.models import JobRun
from custody import services, tasks
from custody.events.licences import forget_all
from custody.transfers.models import Transfer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


@pytest.fixture
def stale_offer(registered_pack, recycler_operator, recycler_site, other_recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    transfer = services.initiate_transfer(
        by=recycler_operator,
        battery_code=registered_pack.code,
        to_organisation=other_recycler_site.organisation,
        to_facility=other_recycler_site,
    ).transfer
    Transfer.objects.filter(pk=transfer.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    return transfer


def test_the_expiry_task_closes_stale_offers_once_and_records_a_jobrun(stale_offer):
    assert tasks.expire_transfers() == {"due": 1, "expired": 1}
    assert tasks.expire_transfers() == {"due": 0, "expired": 0}
    stale_offer.refresh_from_db()
    assert stale_offer.status == "expired"
    assert JobRun.objects.filter(job="custody.expire_transfers", status="succeeded").count() == 2


def test_the_expiry_command_runs_the_same_job(stale_offer, capsys):
    call_command("expire_transfers")
    assert "1 of 1 due offers expired" in capsys.readouterr().out


def test_the_periodic_jobs_are_scheduled():
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"custody.expire_transfers", "custody.self_audit"} <= tasks_scheduled
