"""The demo data `make run` creates: every seeder in order, through the real services, twice.

The seeders are each used by the browser journeys, but only here do they run together as the README's
run command runs them, so a change to one service that breaks a later seeder shows up in CI.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import User
from custody.events.models import CustodyEvent
from demo.seed_accounts import DEMO_PASSWORD
from passport.models import Battery


def _row_counts() -> dict[str, int]:
    """Rows per model, but for the job-run log: each seeding runs the jobs again and records that."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.label != "core.JobRun"
    }


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _as(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=DEMO_PASSWORD), username
    return client


@pytest.mark.django_db(transaction=True)
def test_seed_demo_creates_every_set_once_and_its_pages_answer(settings) -> None:
    settings.DEBUG = True
    output = _seed()
    assert "Demo data ready." in output
    counts = _row_counts()
    # Every login it prints works with the published password.
    logins = re.findall(r"^  (\S+-(?:admin|operator|viewer)|admin) ", output, flags=re.MULTILINE)
    assert len(logins) == User.objects.count()
    for username in logins:
        assert Client().login(username=username, password=DEMO_PASSWORD), username

    # The sets the later issues rely on are there: verified and claimed origins, a hash-chained history
    # under a signed checkpoint, lots.
    assert Battery.objects.filter(origin=Battery.Origin.VERIFIED).exists()
    assert Battery.objects.filter(origin=Battery.Origin.CLAIMED).exists()
    assert CustodyEvent.objects.count() > 0
    assert counts["custody.MaterialLot"] > 0
    assert counts["custody.Checkpoint"] > 0

    # The pages the run command's output sends people to answer.
    public = re.search(r"try (/p/\S+)", output).group(1)
    timeline, lot = re.search(r"try (/batteries/\S+/timeline) and (/lots/\S+)", output).groups()
    assert Client().get(public).status_code == 200
    recycler = _as("recycler-admin")
    for path in (timeline, lot, "/custody/history-requests/"):
        assert recycler.get(path).status_code == 200, path
    regulator = _as("regulator-admin")
    for path in ("/compliance/", "/cross-border/approvals/", "/cross-border/export-log/"):
        assert regulator.get(path).status_code == 200, path

    # A second run finds everything in place and writes nothing.
    before = _row_counts()
    _seed()
    assert _row_counts() == before


def test_seed_demo_refuses_with_debug_off(settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("seed_demo", stdout=StringIO())
