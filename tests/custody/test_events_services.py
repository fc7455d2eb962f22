"""Custody steps of a battery: registration, intake, grading, dismantling, repurposing, disposal.

Every refusal is checked for its code and for leaving nothing behind (no event, no log leaf queued,
the battery's status and custodian untouched).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from core.errors import DomainError
from custody import services
from custody.events.body import fingerprint
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent, EventInput
from custody.transparency.models import PendingLeaf
from licensing.models import Licence
from licensing.services import suspend_licence
from passport.models import Battery
from passport.services import RegistrationRequest, register_batteries
from tests.factories import FacilityFactory, gbt_code, licensed_facility
from tests.passport.snapshot_helpers import stored
from tests.snapshot_builders import lfp_payload

pytestmark = pytest.mark.django_db

MODULE_2 = gbt_code("HNC", product_type="M", serial=2)
MODULE_3 = gbt_code("HNC", product_type="M", serial=3)
MODULE_4 = gbt_code("HNC", product_type="M", serial=4)


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


def refused(expected: str, call: object, /, *args: object, **kwargs: object) -> DomainError:
    """Run a service that must refuse with `code`, and check nothing was written."""
    events, leaves = CustodyEvent.objects.count(), PendingLeaf.objects.count()
    states = list(Battery.objects.order_by("pk").values_list("status", "current_custodian_id"))
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == expected, caught.value.as_dict()
    assert CustodyEvent.objects.count() == events
    assert PendingLeaf.objects.count() == leaves
    assert list(Battery.objects.order_by("pk").values_list("status", "current_custodian_id")) == states
    return caught.value


def take_in(battery: Battery, user: object, site: object, **kwargs: object) -> CustodyEvent:
    return services.record_intake(by=user, code=battery.code, facility=site, **kwargs).event


# ---------------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------------
def test_registration_opens_each_chain_with_a_registered_event_queued_for_the_log(registered_pack):
    pack_event = CustodyEvent.objects.get(battery=registered_pack)
    body = json.loads(pack_event.body)
    assert (pack_event.type, pack_event.seq, pack_event.prev_hash) == ("registered", 0, None)
    assert body["data"]["origin"] == "verified"
    assert body["data"]["oem"] == "CATL Demo OEM"
    assert bytes(pack_event.hash) == hashlib.sha256(pack_event.body.encode()).digest()
    module = CustodyEvent.objects.get(battery__code=MODULE_2)
    assert json.loads(module.body)["data"]["parent"] == registered_pack.code
    assert PendingLeaf.objects.filter(event_hash=pack_event.hash).exists()


def test_a_claimed_registration_is_recorded_by_its_registrant(hnc_models, recycler_operator):
    (battery,) = register_batteries(
        requests=[RegistrationRequest(code=gbt_code("HNC", product_type="C", serial=9))], by=recycler_operator
    )
    event = CustodyEvent.objects.get(battery=battery)
    assert event.actor == recycler_operator.organisation
    assert json.loads(event.body)["data"]["origin"] == "claimed"


# ---------------------------------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------------------------------
def test_intake_moves_the_battery_into_custody_under_the_sites_licence(
    registered_pack, recycler_operator, recycler_site
):
    event = take_in(registered_pack, recycler_operator, recycler_site, note="pallet 7")
    registered_pack.refresh_from_db()
    assert registered_pack.status == "in_custody"
    assert registered_pack.current_custodian == recycler_operator.organisation
    licence = Licence.objects.get(facility=recycler_site)
    assert (event.seq, event.licence_id, event.licence_status, event.activity) == (
        1,
        licence.pk,
        "active",
        "intake",
    )
    body = json.loads(event.body)
    first = CustodyEvent.objects.get(battery=registered_pack, seq=0)
    assert body["prev_hash"] == bytes(first.hash).hex()
    assert body["licence_id"] == licence.pk
    assert body["facility_id"] == recycler_site.pk
    assert body["data"] == {"note": "pallet 7"}
    assert PendingLeaf.objects.filter(event_hash=event.hash).exists()


def test_intake_of_an_unknown_battery_is_refused(hnc_models, recycler_operator, recycler_site):
    error = refused(
        "BATTERY_NOT_FOUND",
        services.record_intake,
        by=recycler_operator,
        code=gbt_code("HNC", serial=77),
        facility=recycler_site,
    )
    assert error.status_code == 404


def test_intake_at_a_site_without_a_licence_is_refused_with_no_licence(registered_pack, recycler_operator):
    bare = FacilityFactory(organisation=recycler_operator.organisation)
    error = refused("NO_LICENCE", take_in, registered_pack, recycler_operator, bare)
    assert error.status_code == 422


def test_intake_outside_the_licences_scope_is_refused(registered_pack, recycler_operator):
    storage_only = licensed_facility(recycler_operator.organisation, activities=["storage"])
    refused("SCOPE_NOT_COVERED", take_in, registered_pack, recycler_operator, storage_only)


def test_intake_follows_the_licence_at_the_time_the_step_happened(lfp_pack, recycler_operator):
    site = licensed_facility(recycler_operator.organisation, valid_until=date(2026, 6, 30))
    refused("LICENCE_EXPIRED", take_in, lfp_pack, recycler_operator, site)
    # The last day counts whole on the site's calendar (Asia/Shanghai): 23:59 there is 15:59 UTC.
    event = take_in(lfp_pack, recycler_operator, site, occurred_at=datetime(2026, 6, 30, 15, 59, tzinfo=UTC))
    assert event.licence_status == "active"


def test_a_suspension_recorded_after_an_accepted_step_refuses_the_next_one(
    registered_pack, hnc_models, oem_admin, recycler_operator, recycler_site, regulator
):
    take_in(registered_pack, recycler_operator, recycler_site)
    suspend_licence(
        by=regulator,
        licence=Licence.objects.get(facility=recycler_site),
        reason="Inspection",
        effective_at=timezone.now(),
    )
    (other,) = register_batteries(
        requests=[RegistrationRequest(code=gbt_code("HNC", serial=8), model="HN-LFP-280-PACK")], by=oem_admin
    )
    refused("LICENCE_SUSPENDED", take_in, other, recycler_operator, recycler_site)


def test_intake_of_a_recycled_battery_is_an_illegal_transition(
    registered_pack, recycler_operator, recycler_site
):
    Battery.objects.filter(pk=registered_pack.pk).update(status="recycled")
    error = refused("ILLEGAL_TRANSITION", take_in, registered_pack, recycler_operator, recycler_site)
    assert "recycled" in str(error.message)


def test_intake_of_a_battery_held_by_another_recycler_needs_a_transfer(
    registered_pack, recycler_operator, recycler_site, other_recycler_admin, other_recycler_site
):
    take_in(registered_pack, recycler_operator, recycler_site)
    error = refused("NOT_CUSTODIAN", take_in, registered_pack, other_recycler_admin, other_recycler_site)
    assert error.status_code == 403
    refused("ILLEGAL_TRANSITION", take_in, registered_pack, recycler_operator, recycler_site)


def test_intake_at_another_organisations_site_is_refused(
    registered_pack, recycler_operator, other_recycler_site
):
    refused("FACILITY_NOT_FOUND", take_in, registered_pack, recycler_operator, other_recycler_site)


def test_viewers_record_nothing(registered_pack, recycler_viewer, recycler_site):
    refused("NOT_PERMITTED", take_in, registered_pack, recycler_viewer, recycler_site)


def test_a_step_cannot_be_dated_in_the_future_or_before_the_previous_one(
    registered_pack, recycler_operator, recycler_site
):
    refused(
        "OCCURRED_IN_FUTURE",
        take_in,
        registered_pack,
        recycler_operator,
        recycler_site,
        occurred_at=timezone.now() + timedelta(hours=1),
    )
    refused(
        "OCCURRED_BEFORE_PREVIOUS",
        take_in,
        registered_pack,
        recycler_operator,
        recycler_site,
        occurred_at=timezone.now() - timedelta(days=3),
    )


def test_a_retried_intake_with_the_same_key_has_one_effect(registered_pack, recycler_operator, recycler_site):
    first = services.record_intake(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, idempotency_key="k-1"
    )
    again = services.record_intake(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, idempotency_key="k-1"
    )
    assert again.replayed
    assert not first.replayed
    assert again.event.pk == first.event.pk
    assert CustodyEvent.objects.filter(battery=registered_pack).count() == 2


def test_a_steps_stored_fingerprint_is_its_operation_and_cleaned_fields(
    registered_pack, recycler_operator, recycler_site
):
    # Retries compare against fingerprints stored by earlier versions: their content must not drift.
    services.record_intake(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, note=" Arrived sealed ",
        idempotency_key="k-1",
    )  # fmt: skip
    graded = services.record_grading(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, grade="B",
        method="capacity test", idempotency_key="k-2",
    )  # fmt: skip
    intake = CustodyEvent.objects.get(battery=registered_pack, type="intake")
    assert intake.request_fingerprint == fingerprint(
        "intake",
        {"code": registered_pack.code, "facility": recycler_site.pk, "occurred_at": None, "snapshots": [],
         "note": "Arrived sealed"},
    )  # fmt: skip
    assert graded.event.request_fingerprint == fingerprint(
        "graded",
        {"code": registered_pack.code, "facility": recycler_site.pk, "occurred_at": None, "snapshots": [],
         "grade": "B", "method": "capacity test", "lab": None, "note": ""},
    )  # fmt: skip


def test_the_same_key_with_a_different_request_is_refused_with_409(
    registered_pack, recycler_operator, recycler_site
):
    services.record_intake(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, idempotency_key="k-1"
    )
    error = refused(
        "IDEMPOTENCY_KEY_REUSED",
        services.record_grading,
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="B",
        method="capacity test",
        idempotency_key="k-1",
    )
    assert error.status_code == 409


def test_intake_links_the_signed_snapshots_it_relied_on(
    lfp_pack, oem_org, oem_admin, oem_device_key, recycler_operator, recycler_site
):
    snapshot = stored(lfp_payload(thermal_events=0), oem_org, oem_admin)
    event = take_in(lfp_pack, recycler_operator, recycler_site, snapshots=[snapshot.payload_hash])
    assert list(event.snapshots.all()) == [snapshot]
    assert json.loads(event.body)["snapshots"] == [snapshot.payload_hash]
    refused(
        "SNAPSHOT_NOT_FOUND",
        services.record_grading,
        by=recycler_operator,
        code=lfp_pack.code,
        facility=recycler_site,
        grade="B",
        method="x",
        snapshots=["ab" * 32],
    )


# ---------------------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------------------
def test_grading_records_grade_method_and_certifying_lab(
    registered_pack, recycler_operator, recycler_site, test_lab_org
):
    take_in(registered_pack, recycler_operator, recycler_site)
    outcome = services.record_grading(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="B",
        method="0.5C capacity test",
        lab=test_lab_org.pk,
    )
    data = json.loads(outcome.event.body)["data"]
    assert data["grade"] == "B"
    assert data["lab"] == test_lab_org.name
    assert data["method"] == "0.5C capacity test"
    registered_pack.refresh_from_db()
    assert registered_pack.status == "graded"


def test_grading_refuses_unknown_grades_and_labs(
    registered_pack, recycler_operator, recycler_site, buyer_org
):
    take_in(registered_pack, recycler_operator, recycler_site)
    refused(
        "GRADE_INVALID",
        services.record_grading,
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="A+",
        method="x",
    )
    refused(
        "LAB_INVALID",
        services.record_grading,
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="B",
        method="x",
        lab=buyer_org.pk,
    )


def test_a_top_grade_is_refused_for_a_battery_with_a_thermal_event_on_record(
    lfp_pack, oem_org, oem_admin, oem_device_key, recycler_operator, recycler_site
):
    stored(lfp_payload(thermal_events=1), oem_org, oem_admin)
    take_in(lfp_pack, recycler_operator, recycler_site)
    error = refused(
        "THERMAL_EVENT_ON_RECORD",
        services.record_grading,
        by=recycler_operator,
        code=lfp_pack.code,
        facility=recycler_site,
        grade="A",
        method="x",
    )
    assert error.field == "grade"
    services.record_grading(
        by=recycler_operator, code=lfp_pack.code, facility=recycler_site, grade="B", method="x"
    )


def test_a_top_grade_is_given_without_thermal_events(
    lfp_pack, oem_org, oem_admin, oem_device_key, recycler_operator, recycler_site
):
    stored(lfp_payload(thermal_events=0), oem_org, oem_admin)
    take_in(lfp_pack, recycler_operator, recycler_site)
    outcome = services.record_grading(
        by=recycler_operator, code=lfp_pack.code, facility=recycler_site, grade="A", method="x"
    )
    assert json.loads(outcome.event.body)["data"]["grade"] == "A"


def test_grading_a_battery_held_by_another_organisation_is_refused(
    registered_pack, other_recycler_admin, other_recycler_site
):
    refused(
        "NOT_CUSTODIAN",
        services.record_grading,
        by=other_recycler_admin,
        code=registered_pack.code,
        facility=other_recycler_site,
        grade="B",
        method="x",
    )


# ---------------------------------------------------------------------------------------------------
# Dismantling
# ---------------------------------------------------------------------------------------------------
def test_dismantling_releases_known_modules_and_registers_new_ones_linked_to_the_pack(
    registered_pack, recycler_operator, recycler_site
):
    take_in(registered_pack, recycler_operator, recycler_site)
    outcome = services.record_dismantling(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        components=[MODULE_2, MODULE_3, MODULE_4],
    )
    parent_hash = bytes(outcome.event.hash).hex()
    registered_pack.refresh_from_db()
    assert registered_pack.status == "dismantled"
    new_module = Battery.objects.get(code=MODULE_4)
    assert new_module.parent == registered_pack
    assert new_module.origin == registered_pack.origin == "verified"
    assert new_module.current_custodian == recycler_operator.organisation
    assert new_module.status == "in_custody"
    first = CustodyEvent.objects.get(battery=new_module)
    assert (first.type, first.seq) == ("registered", 0)
    assert json.loads(first.body)["inputs"] == [
        {"kind": "battery", "code": registered_pack.code, "event_hash": parent_hash, "mass_kg": None}
    ]
    released = CustodyEvent.objects.get(battery__code=MODULE_2, seq=1)
    assert released.type == "intake"
    assert json.loads(released.body)["inputs"][0]["event_hash"] == parent_hash
    assert EventInput.objects.filter(input_event=outcome.event).count() == 3


def test_a_dismantled_pack_cannot_be_graded(registered_pack, recycler_operator, recycler_site):
    take_in(registered_pack, recycler_operator, recycler_site)
    services.record_dismantling(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, components=[MODULE_2]
    )
    refused(
        "ILLEGAL_TRANSITION",
        services.record_grading,
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="B",
        method="x",
    )


def test_a_cell_cannot_be_dismantled(hnc_models, recycler_operator, recycler_site):
    (cell,) = register_batteries(
        requests=[RegistrationRequest(code=gbt_code("HNC", product_type="C", serial=5))], by=recycler_operator
    )
    refused(
        "ILLEGAL_TRANSITION",
        services.record_dismantling,
        by=recycler_operator,
        code=cell.code,
        facility=recycler_site,
        components=[gbt_code("HNC", product_type="C", serial=6)],
    )


def test_a_component_of_another_unit_is_refused(registered_pack, oem_admin, recycler_operator, recycler_site):
    (loose,) = register_batteries(
        requests=[
            RegistrationRequest(code=gbt_code("HNC", product_type="M", serial=40), model="HN-LFP-MOD-16")
        ],
        by=oem_admin,
    )
    take_in(registered_pack, recycler_operator, recycler_site)
    error = refused(
        "COMPONENT_NOT_PART",
        services.record_dismantling,
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        components=[MODULE_2, loose.code],
    )
    assert error.field == "components[1]"


def test_a_new_component_with_a_bad_code_refuses_the_whole_dismantling(
    registered_pack, recycler_operator, recycler_site
):
    take_in(registered_pack, recycler_operator, recycler_site)
    error = refused(
        "CODE_LENGTH",
        services.record_dismantling,
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        components=[MODULE_2, "HNCM123"],
    )
    assert error.field.startswith("components[1]")
    assert not Battery.objects.filter(code="HNCM123").exists()


# ---------------------------------------------------------------------------------------------------
# Repurposing, disposal, retirement
# ---------------------------------------------------------------------------------------------------
def test_repurposing_re_codes_the_unit_and_links_it_to_the_original(
    registered_pack, recycler_operator, recycler_site
):
    take_in(registered_pack, recycler_operator, recycler_site)
    outcome = services.record_repurposing(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        new_code="HNCPBABT2M0000007RP",
        application="home storage",
    )
    unit = Battery.objects.get(code="HNCPBABT2M0000007RP")
    assert unit.original == registered_pack
    assert unit.origin == "verified"
    assert unit.oem == registered_pack.oem
    assert unit.current_custodian == recycler_operator.organisation
    first = CustodyEvent.objects.get(battery=unit)
    assert first.type == "repurposed"
    assert json.loads(first.body)["inputs"][0]["event_hash"] == bytes(outcome.event.hash).hex()
    registered_pack.refresh_from_db()
    assert registered_pack.status == "repurposed"


def test_repurposing_needs_a_re_coded_identifier(registered_pack, recycler_operator, recycler_site):
    take_in(registered_pack, recycler_operator, recycler_site)
    refused(
        "RECODE_SCHEME",
        services.record_repurposing,
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        new_code=gbt_code("HNC", serial=99),
    )


def test_disposal_ends_the_chain(registered_pack, recycler_operator, recycler_site):
    take_in(registered_pack, recycler_operator, recycler_site)
    services.record_disposal(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, method="incineration"
    )
    registered_pack.refresh_from_db()
    assert registered_pack.status == "disposed"
    refused("ILLEGAL_TRANSITION", take_in, registered_pack, recycler_operator, recycler_site)


def test_the_oem_retires_its_battery_without_a_site(registered_pack, oem_admin):
    outcome = services.record_retirement(by=oem_admin, code=registered_pack.code, reason="end of first life")
    assert outcome.event.facility is None
    assert outcome.event.licence is None
    registered_pack.refresh_from_db()
    assert registered_pack.status == "retired"
