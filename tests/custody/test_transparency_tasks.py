"""The log's Celery tasks, beat entry and management command; one run through a real worker."""

from __future__ import annotations

import os
import time
import uuid
from io import StringIO

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command

from config.celery import app
from core.models import JobRun
from custody.models import Checkpoint, LogLeaf
from custody.transparency import tasks
from custody.transparency.services import enqueue_leaf

pytestmark = pytest.mark.django_db


def _enqueue(count: int) -> None:
    for _ in range(count):
        enqueue_leaf(event_hash=os.urandom(32))


def test_tasks_are_registered_under_their_names():
    app.loader.import_default_modules()
    assert {"custody.sequence_log", "custody.publish_checkpoint"} <= set(app.tasks)
    assert tasks.sequence_log.acks_late is True


def test_beat_publishes_checkpoints_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["custody-publish-checkpoint"]
    assert entry["task"] == "custody.publish_checkpoint"
    assert entry["schedule"].total_seconds() == 60
    assert "custody.transparency.tasks" in settings.CELERY_IMPORTS


def test_sequence_log_task_sequences_and_publishes_and_is_safe_to_repeat():
    _enqueue(3)
    tasks.sequence_log()
    tasks.sequence_log()
    assert LogLeaf.objects.count() == 3
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [3]


def test_publish_checkpoint_task_records_a_job_run():
    _enqueue(2)
    tasks.publish_checkpoint()
    run = JobRun.objects.get(job="custody.publish_checkpoint")
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.counts == {"sequenced": 2, "published": 1, "tree_size": 2}


def test_publish_checkpoint_command_publishes_and_forces(capsys):
    _enqueue(1)
    out = StringIO()
    call_command("publish_checkpoint", stdout=out)
    assert out.getvalue() == "Published tree size 1 (1 leaves sequenced).\n"
    out = StringIO()
    call_command("publish_checkpoint", stdout=out)
    assert out.getvalue().startswith("No new checkpoint: tree size 1")
    call_command("publish_checkpoint", "--force", stdout=StringIO())
    assert Checkpoint.objects.count() == 2
    assert JobRun.objects.filter(job="custody.publish_checkpoint").count() == 3


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sequences_the_log_and_publishes_a_checkpoint():
    _enqueue(3)
    # A queue of our own, so parallel test processes and a developer's running worker never take our task.
    queue = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with start_worker(app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=10):
        tasks.sequence_log.apply_async(queue=queue)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not Checkpoint.objects.filter(tree_size=3).exists():
            time.sleep(0.1)
    assert Checkpoint.objects.filter(tree_size=3).exists()
    assert LogLeaf.objects.count() == 3
