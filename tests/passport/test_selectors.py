from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from passport import access, selectors, summary, verdict
from passport.models import Battery
from tests.factories import BatteryFactory, OrganisationFactory, member_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def battery(hnc):
    return BatteryFactory(manufacturer=hnc)


def test_verdict_is_never_verified_while_a_reason_is_unavailable(battery):
    result = verdict.compute_verdict(battery)
    assert [reason.name for reason in result.reasons] == list(verdict.REASONS)
    assert result.reasons[0].state == verdict.PASSED
    assert result.state == verdict.INCOMPLETE
    assert not result.verified


def test_verdict_is_verified_only_when_every_registered_check_passes(battery):
    def passing(battery, at):
        return verdict.CheckResult(verdict.PASSED, "checked")

    try:
        for name in ("licensed_sites", "bms_history", "chain_intact"):
            verdict.register_verdict_check(name, passing)
        assert verdict.compute_verdict(battery).verified
        verdict.register_verdict_check(
            "chain_intact", lambda battery, at: verdict.CheckResult(verdict.FAILED, "broken")
        )
        assert verdict.compute_verdict(battery).state == verdict.NOT_VERIFIED
    finally:
        for name in ("licensed_sites", "bms_history", "chain_intact"):
            verdict.reset_verdict_check(name)


def test_verdict_refuses_unknown_reasons():
    with pytest.raises(ValueError, match="Unknown verdict reason"):
        verdict.register_verdict_check("vibes", lambda battery, at: None)


def test_origin_fails_for_claimed_batteries(hnc, recycler_org):
    claimed = BatteryFactory(
        manufacturer=hnc, origin="claimed", registered_by=recycler_org, current_custodian=recycler_org
    )
    reason = verdict.compute_verdict(claimed).reasons[0]
    assert reason.state == verdict.FAILED
    assert recycler_org.name in reason.explanation


def test_tier_for_follows_the_access_rules(battery, oem_admin, buyer_user, regulator, other_recycler_admin):
    assert access.tier_for(battery, None) == "public"
    assert access.tier_for(battery, oem_admin) == "legitimate_interest"
    assert access.tier_for(battery, regulator) == "authority"
    assert access.tier_for(battery, other_recycler_admin) == "public"
    assert access.tier_for(battery, buyer_user) == "public"


def test_authorities_of_another_jurisdiction_get_no_authority_tier(battery):
    foreign = member_of(OrganisationFactory(name="Foreign regulator", kind="regulator", country="FR"))
    assert access.tier_for(battery, foreign) == "public"


def test_interest_providers_extend_legitimate_interest(battery, buyer_user):
    def pending_transfer(candidate, organisation, at):
        return candidate.pk == battery.pk and organisation.pk == buyer_user.organisation.pk

    access.register_interest_provider(pending_transfer)
    try:
        assert access.tier_for(battery, buyer_user) == "legitimate_interest"
    finally:
        access.unregister_interest_provider(pending_transfer)
    assert access.tier_for(battery, buyer_user) == "public"


def test_custody_summary_comes_from_the_registered_provider(battery):
    assert not summary.custody_summary(battery).available
    step = summary.CustodyStep("GreenCycle", "Ganzhou plant", "2026-03", "intake", True)
    summary.register_custody_summary(lambda battery: summary.CustodySummary(available=True, steps=(step,)))
    try:
        assert summary.custody_summary(battery).steps == (step,)
    finally:
        summary.unregister_custody_summary()


def test_batteries_visible_to_oem_custodian_and_live_grantees_only(
    battery, oem_admin, buyer_user, other_recycler_admin
):
    assert list(Battery.objects.visible_to(oem_admin)) == [battery]
    assert not Battery.objects.visible_to(buyer_user).exists()
    battery.access_grants.create(
        grantee=buyer_user.organisation,
        granted_by=battery.current_custodian,
        valid_until=timezone.now() + timedelta(days=1),
    )
    assert list(Battery.objects.visible_to(buyer_user)) == [battery]
    assert not Battery.objects.visible_to(other_recycler_admin).exists()


def test_key_valid_at_respects_window_and_revocation(signer, oem_admin):
    from passport import services

    key, _private_key = signer
    now = timezone.now()
    assert selectors.key_valid_at(key, now)
    assert not selectors.key_valid_at(key, now - timedelta(days=2))
    services.revoke_device_key(key=key, by=oem_admin, reason="rotated", effective_at=now - timedelta(hours=1))
    key.refresh_from_db()
    assert selectors.key_valid_at(key, now - timedelta(hours=2))
    assert not selectors.key_valid_at(key, now)


def test_passport_for_uses_a_fixed_number_of_queries(battery, oem_admin):
    loaded = selectors.battery_for_passport(battery.code)
    oem_admin.membership  # noqa: B018 - the request loads the user's membership once
    with CaptureQueriesContext(connection) as queries:
        passport = selectors.passport_for(battery=loaded, user=oem_admin)
    assert passport.tier == "legitimate_interest"
    # the components list, and one query for the custody reasons and summary (fixed whatever the history)
    assert len(queries.captured_queries) <= 2
