"""Two concurrent offers, or two concurrent acceptances, of one battery: exactly one succeeds and the
other gets a 409. Proven with parallel PostgreSQL connections (one per thread), released together."""

from __future__ import annotations

from itertools import pairwise

import pytest

from core.errors import DomainError
from custody import services
from custody.events.models import CustodyEvent
from custody.transfers.models import Transfer
from tests.concurrency import race
from tests.factories import OrganisationFactory, licensed_facility, member_of

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def held_pack(postgres, registered_pack, recycler_operator, recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    return registered_pack


def test_two_concurrent_offers_of_one_battery_open_exactly_one_transfer(
    held_pack, recycler_operator, recycler_admin, other_recycler_site
):
    third_site = licensed_facility(OrganisationFactory(name="Third Recycler"))
    results = race(
        lambda: services.initiate_transfer(
            by=recycler_operator,
            battery_code=held_pack.code,
            to_organisation=other_recycler_site.organisation,
            to_facility=other_recycler_site,
        ),
        lambda: services.initiate_transfer(
            by=recycler_admin,
            battery_code=held_pack.code,
            to_organisation=third_site.organisation,
            to_facility=third_site,
        ),
    )
    failures = [result for result in results if isinstance(result, DomainError)]
    assert len(failures) == 1, results
    assert failures[0].status_code == 409
    assert failures[0].code == "TRANSFER_PENDING"
    assert Transfer.objects.filter(status="pending").count() == 1
    assert CustodyEvent.objects.filter(battery=held_pack, type="transfer_initiated").count() == 1


def test_two_concurrent_acceptances_of_one_transfer_take_the_battery_in_once(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_org, other_recycler_site
):
    colleague = member_of(other_recycler_org, "operator", username="other-operator")
    transfer = services.initiate_transfer(
        by=recycler_operator,
        battery_code=held_pack.code,
        to_organisation=other_recycler_org,
        to_facility=other_recycler_site,
    ).transfer
    results = race(
        lambda: services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk),
        lambda: services.accept_transfer(by=colleague, transfer=transfer.pk),
    )
    failures = [result for result in results if isinstance(result, DomainError)]
    assert len(failures) == 1, results
    assert failures[0].status_code == 409
    assert failures[0].code == "TRANSFER_NOT_PENDING"
    assert CustodyEvent.objects.filter(battery=held_pack, type="transfer_accepted").count() == 1
    seqs = list(CustodyEvent.objects.filter(battery=held_pack).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(len(seqs)))


def test_the_same_acceptance_sent_twice_at_once_has_one_effect(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_org, other_recycler_site
):
    transfer = services.initiate_transfer(
        by=recycler_operator,
        battery_code=held_pack.code,
        to_organisation=other_recycler_org,
        to_facility=other_recycler_site,
    ).transfer
    results = race(
        *(
            lambda: services.accept_transfer(
                by=other_recycler_admin, transfer=transfer.pk, idempotency_key="same"
            )
            for _ in range(2)
        )
    )
    assert not any(isinstance(result, DomainError) for result in results), results
    assert sorted(result.replayed for result in results) == [False, True]
    assert results[0].event.pk == results[1].event.pk
    assert CustodyEvent.objects.filter(battery=held_pack, type="transfer_accepted").count() == 1


def test_concurrent_steps_on_one_battery_never_fork_its_chain(
    held_pack, recycler_operator, recycler_admin, recycler_site
):
    results = race(
        *(
            (lambda user=user, grade=grade: services.record_grading(
                by=user, code=held_pack.code, facility=recycler_site, grade=grade, method="capacity"
            ))
            for user, grade in ((recycler_operator, "B"), (recycler_admin, "C"), (recycler_operator, "D"))
        )
    )  # fmt: skip
    assert not any(isinstance(result, DomainError) for result in results), results
    chain = list(CustodyEvent.objects.filter(battery=held_pack).order_by("seq"))
    assert [event.seq for event in chain] == list(range(len(chain)))
    for previous, event in pairwise(chain):
        assert bytes(event.prev_hash) == bytes(previous.hash)
