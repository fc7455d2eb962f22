"""Who sees which approvals and log entries, and the export figures of the compliance checklist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crossborder import gate, selectors
from crossborder.errors import CrossBorderRefused
from crossborder.models import ExportLogEntry
from tests.factories import OrganisationFactory, member_of

pytestmark = pytest.mark.django_db


def _log(user, recipient, outcome="not_required", holder=None, scan=None, approval=None):
    return gate.log_export(
        user=user,
        recipient=recipient,
        holder=holder,
        data_classes=["telemetry"],
        data_jurisdiction="CN",
        channel="report",
        subject="report",
        outcome=outcome,
        scan=scan,
        approval=approval,
    )


@pytest.fixture
def scene(
    make_approval,
    recycler_org,
    recycler_admin,
    buyer_org,
    buyer_user,
    oem_admin,
    other_recycler_org,
    french_org,
):
    """Entries by the recycler to the buyer, by the OEM to itself, and one holding the recycler's data."""
    return {
        "own": _log(recycler_admin, buyer_org),
        "oem": _log(oem_admin, oem_admin.organisation),
        "held": _log(oem_admin, buyer_org, holder=recycler_org),
        "stranger": _log(member_of(other_recycler_org, username="stranger"), other_recycler_org),
        "approval": make_approval(),
        "unrelated_approval": make_approval(
            holder=other_recycler_org, recipient=french_org, destination_country="FR", reference="OTHER-1"
        ),
    }


def test_authorities_see_every_entry_and_approval(scene, auditor, regulator):
    for user in (auditor, regulator):
        assert selectors.export_log_visible_to(user).count() == 4
        assert selectors.approvals_visible_to(user).count() == 2


def test_organisations_see_entries_they_acted_in_received_or_held(
    scene, recycler_viewer, buyer_user, oem_admin
):
    assert set(selectors.export_log_visible_to(recycler_viewer)) == {scene["own"], scene["held"]}
    assert set(selectors.export_log_visible_to(buyer_user)) == {scene["own"], scene["held"]}
    assert set(selectors.export_log_visible_to(oem_admin)) == {scene["oem"], scene["held"]}
    assert list(selectors.approvals_visible_to(buyer_user)) == [scene["approval"]]
    assert list(selectors.approvals_visible_to(oem_admin)) == []


def test_anonymous_users_see_nothing(scene, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    loner = django_user_model.objects.create_user("loner", password="pw")
    for user in (AnonymousUser(), loner):
        assert not selectors.export_log_visible_to(user).exists()
        assert not selectors.approvals_visible_to(user).exists()


def test_export_summary_counts_decisions_scans_and_approvals(
    make_approval, recycler_org, recycler_admin, buyer_org, regulator, french_org
):
    now = timezone.now()
    live = make_approval(valid_from=now - timedelta(days=10), valid_until=now + timedelta(days=200))
    make_approval(valid_from=now - timedelta(days=10), valid_until=now + timedelta(days=20), reference="SOON")
    make_approval(valid_from=now - timedelta(days=100), valid_until=now - timedelta(days=1), reference="OLD")
    make_approval(holder=OrganisationFactory(name="Elsewhere", country="CN"), reference="ELSE")
    gate.authorise(
        user=recycler_admin, recipient=buyer_org, holder=recycler_org, data_classes=["telemetry"],
        data_jurisdiction="CN", channel="history", subject="a",
    )  # fmt: skip
    _log(recycler_admin, buyer_org)
    with pytest.raises(CrossBorderRefused):
        gate.authorise(
            user=regulator, recipient=french_org, holder=recycler_org, data_classes=["personal"],
            data_jurisdiction="CN", channel="report", subject="b",
        )  # fmt: skip
    _log(recycler_admin, buyer_org, scan={"hits": 0, "bytes": 10}, approval=live, outcome="allowed")
    blocked = _log(recycler_admin, buyer_org, scan={"hits": 2}, outcome="blocked")
    summary = selectors.export_summary(organisation=recycler_org, since=now - timedelta(days=1))
    assert summary.approvals_in_force == 2
    assert summary.approvals_expiring_within_30_days == 1
    assert (summary.allowed, summary.not_required, summary.refused) == (1, 1, 1)
    assert (summary.blocked_scans, summary.passed_scans) == (1, 1)
    assert summary.last_blocked_at == blocked.at
    assert summary.last_refusal_at == ExportLogEntry.objects.get(outcome="refused").at
    platform = selectors.export_summary(organisation=None, since=now - timedelta(days=1))
    assert platform.approvals_in_force == 3
    later = selectors.export_summary(organisation=recycler_org, since=now + timedelta(days=1))
    assert (later.allowed, later.refused, later.passed_scans) == (0, 0, 0)
    assert later.last_refusal_at is not None
