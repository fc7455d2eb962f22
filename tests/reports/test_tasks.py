"""The build task through a real Celery worker: queued on commit, built, progress and files recorded."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from config.celery import app
from reports import services, tasks
from reports.models import Report
from tests.reports.conftest import MODULES


def test_tasks_are_registered_under_their_names():
    app.loader.import_default_modules()
    assert {"reports.build_report", "reports.expire_reports"} <= set(app.tasks)
    assert tasks.build_report.acks_late is True


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_a_requested_report(history, auditor, monkeypatch):
    # A queue of our own, so parallel test processes and a developer's running worker never take our task.
    queue = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def on_our_queue(**kwargs):
        transaction.on_commit(lambda: tasks.build_report.apply_async(kwargs=kwargs, queue=queue))

    monkeypatch.setattr(tasks.build_report, "delay_on_commit", on_our_queue)
    with start_worker(app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=10):
        report = services.request_report(
            user=auditor, format="bundle", battery_codes=[history["pack"].code, *MODULES]
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            report.refresh_from_db()
            if report.is_finished:
                break
            time.sleep(0.1)
    assert report.status == Report.Status.SUCCEEDED, report.error_message
    assert report.percent == 100
    assert report.files.count() == 2
