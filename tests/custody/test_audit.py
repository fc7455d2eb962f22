"""The nightly self-audit recomputes every chain and the log, and names the first broken link.

Tampering needs raw SQL past the append-only triggers, which refuse every UPDATE and DELETE; the tests
use `core.db.purge_for_tests`, the bypass that exists only for a test database being reset, to play
the attacker with database access. Nothing else can change these rows.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Notification
from core.db import purge_for_tests
from core.models import JobRun
from custody import services, tasks
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.transparency.services import publish_checkpoint, sequence_pending
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


@pytest.fixture
def logged_chain(registered_pack, recycler_operator, recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    services.record_grading(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, grade="B", method="x"
    )
    sequence_pending()
    publish_checkpoint()
    return registered_pack


def tamper(sql: str, params: list[object]) -> None:
    with purge_for_tests(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_an_intact_history_passes_and_is_recorded(logged_chain):
    run = services.run_self_audit()
    assert run.status == "succeeded"
    assert run.error == ""
    assert run.counts["events"] == 5
    assert run.counts["chains"] == 3
    assert run.counts["leaves"] == 5
    assert run.counts["mismatches"] == 0
    assert run.counts["first_broken_link"] is None


def test_an_edited_event_body_is_caught_and_alerted(logged_chain, auditor, auditor_org):
    admin = UserFactory(is_superuser=True, is_staff=True)
    event = CustodyEvent.objects.get(battery=logged_chain, seq=2)
    tamper(
        "UPDATE custody_custodyevent SET body = %s WHERE id = %s",
        [event.body.replace('"B"', '"A"'), event.pk],
    )
    run = services.run_self_audit()
    assert run.status == "failed"
    assert f"event {event.pk} (battery {logged_chain.code} #2, graded)" in run.error
    assert "no longer matches its hash" in run.error
    assert run.counts["first_broken_link"] == run.error
    for user in (admin, auditor):
        notification = Notification.objects.get(recipient=user, dedup_key=f"custody-self-audit-{run.pk}")
        assert notification.level == "alert"
        assert f"event {event.pk}" in notification.body


def test_a_rehashed_event_breaks_the_next_link_and_leaves_the_log(logged_chain):
    import hashlib

    event = CustodyEvent.objects.get(battery=logged_chain, seq=1)
    body = event.body.replace('"note":""', '"note":"forged"')
    tamper(
        "UPDATE custody_custodyevent SET body = %s, hash = %s WHERE id = %s",
        [body, hashlib.sha256(body.encode()).digest(), event.pk],
    )
    run = services.run_self_audit()
    assert run.status == "failed"
    assert "#2, graded) does not link to the event before it" in run.error
    assert run.counts["mismatches"] >= 3  # the broken link, the event missing from the log, the orphaned leaf


def test_a_deleted_event_leaves_a_gap(logged_chain):
    event = CustodyEvent.objects.get(battery=logged_chain, seq=1)
    tamper("DELETE FROM custody_eventinput WHERE input_event_id = %s", [event.pk])
    tamper("DELETE FROM custody_custodyevent WHERE id = %s", [event.pk])
    run = services.run_self_audit()
    assert "#2, graded) follows #0: the chain has a gap or a repeat" in run.error


def test_an_edited_leaf_no_longer_folds_into_the_signed_root(logged_chain):
    tamper('UPDATE custody_logleaf SET event_hash = %s WHERE "index" = %s', [b"\x07" * 32, 3])
    run = services.run_self_audit()
    assert run.status == "failed"
    messages = run.counts["first_broken_link"]
    assert "do not fold into the root that checkpoint" in messages or "Leaf 3" in messages


def test_the_task_and_the_command_run_the_same_audit(logged_chain):
    assert tasks.self_audit()["mismatches"] == 0
    call_command("self_audit")
    event = CustodyEvent.objects.get(battery=logged_chain, seq=0)
    tamper("UPDATE custody_custodyevent SET body = %s WHERE id = %s", [event.body + " ", event.pk])
    with pytest.raises(CommandError, match="no longer matches its hash"):
        call_command("self_audit")
    assert JobRun.objects.filter(job="custody.self_audit", status="failed").count() == 1
