"""Two regulators acting on one licence at the same instant: the licence row lock makes the second wait
and then judge the licence as the first left it, so exactly one change is appended. Proven with parallel
PostgreSQL connections (one per thread), released together."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from licensing import services
from licensing.models import LicenceEvent
from licensing.services.licences import LicenceError
from tests.concurrency import race
from tests.factories import member_of
from tests.licensing.conftest import local

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_regulators(postgres, regulator, regulator_org):
    return regulator, member_of(regulator_org, Membership.Role.ADMIN, username="second-regulator")


def _one_success_one_refusal(results: list[object], code: str) -> LicenceEvent:
    refusals = [result for result in results if isinstance(result, LicenceError)]
    events = [result for result in results if isinstance(result, LicenceEvent)]
    assert len(refusals) == 1, results
    assert len(events) == 1, results
    assert refusals[0].code == code
    return events[0]


@pytest.mark.parametrize(
    ("action", "kind", "refusal"),
    [
        (services.revoke_licence, "revoked", "LICENCE_ALREADY_REVOKED"),
        (services.suspend_licence, "suspended", "LICENCE_ALREADY_SUSPENDED"),
    ],
)
def test_the_same_change_sent_twice_at_once_appends_one_event_and_refuses_the_other(
    two_regulators, licence, action, kind, refusal
):
    first, second = two_regulators
    when = local("2025-03-01 09:00")
    results = race(
        lambda: action(by=first, licence=licence, reason="Inspection", effective_at=when),
        lambda: action(by=second, licence=licence, reason="Inspection too", effective_at=when),
    )
    _one_success_one_refusal(results, refusal)
    assert list(licence.events.order_by("pk").values_list("kind", flat=True)) == ["issued", kind]


def test_a_reinstatement_racing_a_revocation_never_revives_a_revoked_licence(two_regulators, licence):
    first, second = two_regulators
    services.suspend_licence(by=first, licence=licence, reason="Leak", effective_at=local("2025-03-01 09:00"))
    when = local("2025-04-01 09:00")
    results = race(
        lambda: services.revoke_licence(by=first, licence=licence, reason="Fraud", effective_at=when),
        lambda: services.reinstate_licence(by=second, licence=licence, reason="Fixed", effective_at=when),
    )
    kinds = list(licence.events.order_by("pk").values_list("kind", flat=True))
    # Whichever came first, the licence ends revoked: a reinstatement after the revocation is refused,
    # and a revocation after the reinstatement still applies.
    assert kinds[-1] == "revoked", (kinds, results)
    if kinds == ["issued", "suspended", "revoked"]:
        _one_success_one_refusal(results, "LICENCE_REVOKED")
    else:
        assert kinds == ["issued", "suspended", "reinstated", "revoked"], results
