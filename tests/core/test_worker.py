"""A real Celery worker consumes a task from the real broker (Redis in CI, the filesystem broker locally)."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.test import Client

from config.celery import app
from core import tasks
from core.models import JobRun
from tests.conftest import REQUIRE_SERVICES

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_worker_runs_a_task_sent_through_the_broker():
    if REQUIRE_SERVICES:
        assert settings.CELERY_BROKER_URL.startswith("redis://"), "CI must run the worker test over Redis"
    # A queue of our own, so parallel test processes and a developer's running worker never take our task.
    queue = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with start_worker(app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=10):
        tasks.ping.apply_async(kwargs={"value": 7}, queue=queue)
        assert _wait_for(lambda: JobRun.objects.filter(job="core.ping").exists())

    run = JobRun.objects.get(job="core.ping")
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.counts == {"value": 7}


def test_healthz_reports_the_worker_once_it_has_announced_itself():
    queue = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    client = Client()
    with start_worker(app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=10):
        tasks.record_worker_heartbeat.apply_async(queue=queue)
        assert _wait_for(lambda: client.get("/healthz").status_code == 200)
    body = client.get("/healthz").json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is True
