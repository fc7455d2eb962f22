"""Two-party transfers: offer, accept at a licensed site, reject, cancel, expire; refusals write nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Notification
from core.errors import DomainError
from custody import services
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.transfers.models import Transfer
from licensing.models import Licence
from licensing.services import revoke_licence
from passport import access
from tests.factories import FacilityFactory, OrganisationFactory, licensed_facility

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


@pytest.fixture
def held_pack(registered_pack, recycler_operator, recycler_site):
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    registered_pack.refresh_from_db()
    return registered_pack


def offer(pack, by, site, **kwargs):
    return services.initiate_transfer(
        by=by, battery_code=pack.code, to_organisation=site.organisation, to_facility=site, **kwargs
    )


def refused(expected: str, call, /, **kwargs) -> DomainError:
    counts = (CustodyEvent.objects.count(), Transfer.objects.count())
    statuses = list(Transfer.objects.order_by("pk").values_list("status", flat=True))
    with pytest.raises(DomainError) as caught:
        call(**kwargs)
    assert caught.value.code == expected, caught.value.as_dict()
    assert (CustodyEvent.objects.count(), Transfer.objects.count()) == counts
    assert list(Transfer.objects.order_by("pk").values_list("status", flat=True)) == statuses
    return caught.value


def test_offer_and_acceptance_hand_the_battery_over_at_the_receiving_site(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_site
):
    outcome = offer(held_pack, recycler_operator, other_recycler_site, note="truck 12")
    transfer = outcome.transfer
    assert transfer.status == "pending"
    assert outcome.event.type == "transfer_initiated"
    assert transfer.expires_at > timezone.now() + timedelta(days=6)
    assert Notification.objects.filter(
        recipient=other_recycler_admin, dedup_key=f"custody-transfer-{transfer.pk}-offer"
    ).exists()
    accepted = services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk)
    held_pack.refresh_from_db()
    assert held_pack.current_custodian == other_recycler_admin.organisation
    assert held_pack.status == "in_custody"
    event = accepted.event
    assert (event.type, event.facility, event.activity, event.licence_status) == (
        "transfer_accepted", other_recycler_site, "intake", "active",
    )  # fmt: skip
    assert json.loads(event.body)["data"]["transfer_id"] == transfer.pk
    transfer.refresh_from_db()
    assert transfer.status == "accepted"
    assert transfer.decided_by == other_recycler_admin


def test_an_oem_hands_a_registered_battery_to_a_recycler(
    registered_pack, oem_admin, recycler_operator, recycler_site
):
    transfer = offer(registered_pack, oem_admin, recycler_site).transfer
    services.accept_transfer(by=recycler_operator, transfer=transfer.pk)
    registered_pack.refresh_from_db()
    assert registered_pack.status == "in_custody"
    assert registered_pack.current_custodian == recycler_operator.organisation


def test_a_transfer_to_oneself_is_refused(held_pack, recycler_operator, recycler_site):
    error = refused(
        "TRANSFER_TO_SELF",
        services.initiate_transfer,
        by=recycler_operator,
        battery_code=held_pack.code,
        to_organisation=recycler_operator.organisation,
        to_facility=recycler_site,
    )
    assert error.status_code == 422


def test_only_the_custodian_offers_a_battery(held_pack, other_recycler_admin, buyer_org):
    site = FacilityFactory(organisation=buyer_org, country="DE", province="DE-BE", timezone="Europe/Berlin")
    refused(
        "NOT_CUSTODIAN",
        services.initiate_transfer,
        by=other_recycler_admin,
        battery_code=held_pack.code,
        to_organisation=buyer_org,
        to_facility=site,
    )


def test_at_most_one_offer_of_a_battery_is_open(held_pack, recycler_operator, other_recycler_site, buyer_org):
    offer(held_pack, recycler_operator, other_recycler_site)
    second = licensed_facility(OrganisationFactory(name="Third Recycler"))
    error = refused("TRANSFER_PENDING", offer, pack=held_pack, by=recycler_operator, site=second)
    assert error.status_code == 409


def test_an_open_offer_blocks_every_other_step(
    held_pack, recycler_operator, recycler_site, other_recycler_site
):
    offer(held_pack, recycler_operator, other_recycler_site)
    refused(
        "TRANSFER_PENDING",
        services.record_grading,
        by=recycler_operator,
        code=held_pack.code,
        facility=recycler_site,
        grade="B",
        method="x",
    )


def test_accepting_a_transfer_addressed_to_another_organisation_is_refused(
    held_pack, recycler_operator, other_recycler_site, buyer_user, recycler_admin
):
    transfer = offer(held_pack, recycler_operator, other_recycler_site).transfer
    # A stranger learns nothing (404); the sender is told it is not addressed to it (403).
    assert (
        refused(
            "TRANSFER_NOT_FOUND", services.accept_transfer, by=buyer_user, transfer=transfer.pk
        ).status_code
        == 404
    )
    error = refused(
        "TRANSFER_NOT_ADDRESSED_TO_YOU", services.accept_transfer, by=recycler_admin, transfer=transfer.pk
    )
    assert error.status_code == 403


def test_acceptance_needs_the_receiving_site_licensed_at_that_moment(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_site, regulator
):
    transfer = offer(held_pack, recycler_operator, other_recycler_site).transfer
    revoke_licence(
        by=regulator,
        licence=Licence.objects.get(facility=other_recycler_site),
        reason="Fraud",
        effective_at=timezone.now(),
    )
    refused("LICENCE_REVOKED", services.accept_transfer, by=other_recycler_admin, transfer=transfer.pk)
    held_pack.refresh_from_db()
    assert held_pack.current_custodian == recycler_operator.organisation


def test_a_retried_acceptance_has_one_effect_and_a_second_answer_gets_409(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_site
):
    transfer = offer(held_pack, recycler_operator, other_recycler_site).transfer
    first = services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk, idempotency_key="acc-1")
    again = services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk, idempotency_key="acc-1")
    assert again.replayed
    assert again.event.pk == first.event.pk
    error = refused(
        "TRANSFER_NOT_PENDING", services.reject_transfer, by=other_recycler_admin, transfer=transfer.pk
    )
    assert error.status_code == 409


def test_a_retried_offer_with_the_same_key_opens_one_transfer(
    held_pack, recycler_operator, other_recycler_site
):
    first = offer(held_pack, recycler_operator, other_recycler_site, idempotency_key="offer-1")
    again = offer(held_pack, recycler_operator, other_recycler_site, idempotency_key="offer-1")
    assert again.replayed
    assert again.transfer.pk == first.transfer.pk
    assert Transfer.objects.count() == 1
    refused(
        "IDEMPOTENCY_KEY_REUSED",
        offer,
        pack=held_pack,
        by=recycler_operator,
        site=other_recycler_site,
        note="x",
        idempotency_key="offer-1",
    )


def test_rejection_and_cancellation_leave_the_battery_with_the_sender(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_site
):
    transfer = offer(held_pack, recycler_operator, other_recycler_site).transfer
    services.reject_transfer(by=other_recycler_admin, transfer=transfer.pk, reason="no capacity")
    transfer.refresh_from_db()
    assert transfer.status == "rejected"
    assert transfer.reason == "no capacity"
    second = offer(held_pack, recycler_operator, other_recycler_site).transfer
    refused("TRANSFER_NOT_YOURS", services.cancel_transfer, by=other_recycler_admin, transfer=second.pk)
    services.cancel_transfer(by=recycler_operator, transfer=second.pk)
    held_pack.refresh_from_db()
    assert held_pack.current_custodian == recycler_operator.organisation
    types = list(
        CustodyEvent.objects.filter(battery=held_pack).order_by("seq").values_list("type", flat=True)
    )
    assert types[-4:] == [
        "transfer_initiated",
        "transfer_rejected",
        "transfer_initiated",
        "transfer_cancelled",
    ]


def test_an_expired_offer_cannot_be_accepted_and_the_job_closes_it(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_site
):
    transfer = offer(
        held_pack, recycler_operator, other_recycler_site, expires_at=timezone.now() + timedelta(hours=1)
    ).transfer
    later = timezone.now() + timedelta(hours=2)
    Transfer.objects.filter(pk=transfer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused("TRANSFER_EXPIRED", services.accept_transfer, by=other_recycler_admin, transfer=transfer.pk)
    assert services.expire_transfers(now=later) == {"due": 1, "expired": 1}
    assert services.expire_transfers(now=later) == {"due": 0, "expired": 0}
    transfer.refresh_from_db()
    assert transfer.status == "expired"
    last = CustodyEvent.objects.filter(battery=held_pack).order_by("-seq").first()
    assert last.type == "transfer_expired"
    assert last.actor == recycler_operator.organisation
    assert Notification.objects.filter(dedup_key=f"custody-transfer-{transfer.pk}-expired").count() >= 2


def test_both_parties_of_an_open_offer_have_legitimate_interest(
    held_pack, recycler_operator, other_recycler_admin, other_recycler_site, buyer_user
):
    assert access.tier_for(held_pack, other_recycler_admin) == "public"
    transfer = offer(held_pack, recycler_operator, other_recycler_site).transfer
    assert access.tier_for(held_pack, other_recycler_admin) == "legitimate_interest"
    assert access.tier_for(held_pack, buyer_user) == "public"
    services.reject_transfer(by=other_recycler_admin, transfer=transfer.pk)
    assert access.tier_for(held_pack, other_recycler_admin) == "public"
