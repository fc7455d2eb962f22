"""What custody tells the passport (verdict reasons, public summary) and the timeline's proof status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.db import purge_for_tests
from custody import selectors, services, verdict
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.transparency.services import publish_checkpoint, sequence_pending
from licensing.models import Licence
from licensing.services import revoke_licence
from passport.models import Battery
from passport.verdict import compute_verdict
from tests.factories import gbt_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


def fresh(battery: Battery) -> Battery:
    return Battery.objects.for_passport().get(pk=battery.pk)


def logged() -> None:
    sequence_pending()
    publish_checkpoint(force=True)


def reasons(battery: Battery) -> dict[str, str]:
    return {reason.name: reason.state for reason in compute_verdict(fresh(battery)).reasons}


def test_a_battery_without_custody_events_has_both_reasons_unavailable(lfp_pack):
    assert reasons(lfp_pack)["licensed_sites"] == "unavailable"
    assert reasons(lfp_pack)["chain_intact"] == "unavailable"
    assert not verdict.custody_summary(fresh(lfp_pack)).available


def test_the_chain_counts_as_intact_only_once_a_signed_checkpoint_includes_it(
    registered_pack, recycler_operator, recycler_site
):
    assert reasons(registered_pack)["chain_intact"] == "unavailable"
    logged()
    assert reasons(registered_pack)["chain_intact"] == "passed"
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    result = verdict.check_chain_intact(fresh(registered_pack), timezone.now())
    assert result.state == "unavailable"
    assert "1 is not yet in a signed checkpoint" in result.explanation
    logged()
    assert reasons(registered_pack) == {
        "origin": "passed", "licensed_sites": "passed", "bms_history": "unavailable", "chain_intact": "passed"
    }  # fmt: skip


def test_a_tampered_event_fails_the_chain_reason(registered_pack, recycler_operator, recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    logged()
    event = CustodyEvent.objects.get(battery=registered_pack, seq=1)
    # The append-only trigger refuses any UPDATE; only the test-reset bypass lets this test tamper.
    with purge_for_tests(connection), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE custody_custodyevent SET body = %s WHERE id = %s",
            [event.body.replace("intake", "intakx"), event.pk],
        )
    result = verdict.check_chain_intact(fresh(registered_pack), timezone.now())
    assert result.state == "failed"
    assert "#1 (intake) no longer matches its hash" in result.explanation


def test_a_licence_revoked_later_with_effect_before_a_step_fails_the_licensed_sites_reason(
    registered_pack, recycler_operator, recycler_site, regulator
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    assert reasons(registered_pack)["licensed_sites"] == "passed"
    revoke_licence(
        by=regulator,
        licence=Licence.objects.get(facility=recycler_site),
        reason="Permit obtained by fraud",
        effective_at=timezone.now() - timedelta(days=30),
    )
    result = verdict.check_licensed_sites(fresh(registered_pack), timezone.now())
    assert result.state == "failed"
    assert "later revoked" in result.explanation
    (entry,) = [entry for entry in selectors.timeline(registered_pack) if entry.event.type == "intake"]
    assert entry.flagged
    assert entry.revoked_later is not None
    summary = verdict.custody_summary(fresh(registered_pack))
    assert [step.licensed for step in summary.steps] == [None, False]


def test_the_public_summary_lists_sites_months_and_licences_including_the_parents(
    registered_pack, recycler_operator, recycler_site
):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    module = gbt_code("HNC", product_type="M", serial=2)
    services.record_dismantling(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, components=[module]
    )
    summary = verdict.custody_summary(fresh(Battery.objects.get(code=module)))
    month = f"{timezone.now():%Y-%m}"
    assert summary.available
    assert summary.note
    assert [(step.organisation, step.facility, step.activity, step.licensed) for step in summary.steps] == [
        ("CATL Demo OEM", "", "registered", None),
        ("Licensed Recycler", "Ganzhou plant", "intake, dismantling", True),
    ]
    assert {step.month for step in summary.steps} == {month}


def test_the_prepared_facts_of_a_lineage_are_the_orms(registered_pack, recycler_operator, recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    module = gbt_code("HNC", product_type="M", serial=2)
    services.record_dismantling(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, components=[module]
    )
    logged()
    child = fresh(Battery.objects.get(code=module))
    lineage = [child.pk, child.parent_id]

    prepared = verdict._facts_of(lineage)  # padded to the prepared statement's three ids

    assert {fact.battery_id for fact in prepared} == set(lineage)
    assert prepared == verdict._facts_of([*lineage, 10**9, 10**9 + 1])  # through the ORM: more than three
    assert all(fact.leaf_index is not None and fact.checkpoint_size for fact in prepared)


def test_the_public_passport_page_costs_one_query_for_custody_whatever_the_history(
    client, settings, registered_pack, recycler_operator, recycler_admin, recycler_site
):
    settings.PASSPORT_PAGE_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as short:
        assert client.get(f"/p/{registered_pack.code}").status_code == 200
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    for grade, user in (("C", recycler_operator), ("B", recycler_admin), ("B", recycler_operator)):
        services.record_grading(
            by=user, code=registered_pack.code, facility=recycler_site, grade=grade, method="x"
        )
    logged()
    with CaptureQueriesContext(connection) as long:
        response = client.get(f"/p/{registered_pack.code}")
    assert len(long.captured_queries) == len(short.captured_queries) <= 3
    html = response.content.decode()
    assert 'data-testid="reason-chain_intact" data-state="passed"' in html
    assert 'data-testid="reason-licensed_sites" data-state="passed"' in html
    assert "Ganzhou plant" in html


def test_a_new_step_clears_the_shared_public_page(
    client, registered_pack, recycler_operator, recycler_site, django_capture_on_commit_callbacks
):
    client.get(f"/p/{registered_pack.code}")
    with django_capture_on_commit_callbacks(execute=True):
        services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    assert "Ganzhou plant" in client.get(f"/p/{registered_pack.code}").content.decode()


def test_the_timeline_shows_proof_status_per_event(registered_pack, recycler_operator, recycler_site):
    logged()
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    first, second = selectors.timeline(registered_pack)
    assert first.in_log
    assert first.in_checkpoint
    assert not second.in_log
    assert not second.in_checkpoint
    sequence_pending()
    second = selectors.timeline(registered_pack)[1]
    assert second.in_log
    assert not second.in_checkpoint
