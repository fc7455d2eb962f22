"""Material lots: recycling with an exact mass balance, splitting, merging, transfer, and the
lawful-origin trace from any lot back to every input battery, its OEM, every site and licence."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import DomainError
from custody import selectors, services
from custody.events.licences import forget_all
from custody.events.models import CustodyEvent
from custody.lots.models import MaterialLot
from passport.models import Battery
from tests.factories import gbt_code

pytestmark = pytest.mark.django_db

MODULE_2 = gbt_code("HNC", product_type="M", serial=2)
MODULE_3 = gbt_code("HNC", product_type="M", serial=3)


@pytest.fixture(autouse=True)
def _fresh_licence_answers() -> None:
    forget_all()


@pytest.fixture
def modules(registered_pack, recycler_operator, recycler_site):
    """The pack taken in and dismantled: its two 80 kg modules are held by the recycler."""
    services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    services.record_dismantling(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        components=[MODULE_2, MODULE_3],
    )
    return [Battery.objects.get(code=MODULE_2), Battery.objects.get(code=MODULE_3)]


DEFAULT_INPUTS = [{"code": MODULE_2}, {"code": MODULE_3, "mass_kg": "80.000"}]
DEFAULT_OUTPUTS = [
    {"material": "black_mass", "mass_kg": "100.000"},
    {"material": "cathode_scrap", "mass_kg": "50.000"},
]


def recycle(user, site, *, inputs=None, outputs=None, losses="10.000", **kwargs):
    return services.record_recycling(
        by=user,
        facility=site,
        inputs=inputs if inputs is not None else DEFAULT_INPUTS,
        outputs=outputs if outputs is not None else DEFAULT_OUTPUTS,
        losses_kg=losses,
        **kwargs,
    )  # fmt: skip


def refused(expected, call, /, **kwargs) -> DomainError:
    counts = (CustodyEvent.objects.count(), MaterialLot.objects.count())
    with pytest.raises(DomainError) as caught:
        call(**kwargs)
    assert caught.value.code == expected, caught.value.as_dict()
    assert (CustodyEvent.objects.count(), MaterialLot.objects.count()) == counts
    return caught.value


def produced_lots(outcome) -> list[MaterialLot]:
    return [MaterialLot.objects.get(code=item["code"]) for item in selectors.produced_from(outcome.event)]


def test_recycling_turns_modules_into_lots_that_account_for_every_gram(
    modules, recycler_operator, recycler_site
):
    outcome = recycle(recycler_operator, recycler_site, process="shredding and sieving")
    black_mass, scrap = produced_lots(outcome)
    assert (black_mass.material, black_mass.mass_kg) == ("black_mass", Decimal("100.000"))
    assert scrap.current_custodian == recycler_operator.organisation
    assert scrap.facility == recycler_site
    for module in modules:
        module.refresh_from_db()
        assert module.status == "recycled"
    created = CustodyEvent.objects.get(lot=black_mass)
    body = json.loads(created.body)
    assert (created.type, created.seq, created.activity) == ("lot_created", 0, "material_recovery")
    assert [item["code"] for item in body["inputs"]] == [MODULE_2, MODULE_3]
    assert [item["mass_kg"] for item in body["inputs"]] == ["80.000", "80.000"]
    assert body["data"]["recovery_rate"] == "0.6250"
    assert body["data"]["total_recovery_rate"] == "0.9375"
    assert body["data"]["losses_kg"] == "10.000"
    recycled = CustodyEvent.objects.get(battery=modules[0], type="recycled")
    assert body["inputs"][0]["event_hash"] == bytes(recycled.hash).hex()


def test_a_mass_balance_that_does_not_add_up_is_refused_naming_the_difference(
    modules, recycler_operator, recycler_site
):
    error = refused("MASS_BALANCE", recycle, user=recycler_operator, site=recycler_site, losses="9.999")
    assert "0.001 kg are unaccounted for" in str(error.message)
    error = refused("MASS_BALANCE", recycle, user=recycler_operator, site=recycler_site, losses="11")
    assert "1.000 kg more than the inputs" in str(error.message)
    assert all(Battery.objects.get(pk=module.pk).status == "in_custody" for module in modules)


def test_masses_are_kept_to_the_gram(modules, recycler_operator, recycler_site):
    error = refused(
        "MASS_PRECISION",
        recycle,
        user=recycler_operator,
        site=recycler_site,
        outputs=[{"material": "black_mass", "mass_kg": "150.0004"}],
    )
    assert error.field == "outputs[0].mass_kg"
    refused("MASS_INVALID", recycle, user=recycler_operator, site=recycler_site, losses="-1")


def test_recycling_a_pack_that_was_dismantled_is_an_illegal_transition(
    modules, registered_pack, recycler_operator, recycler_site
):
    error = refused(
        "ILLEGAL_TRANSITION",
        recycle,
        user=recycler_operator,
        site=recycler_site,
        inputs=[{"code": registered_pack.code, "mass_kg": "520"}],
        outputs=[{"material": "black_mass", "mass_kg": "520"}],
        losses="0",
    )
    assert error.field == "inputs[0].code"


def test_recycling_another_organisations_battery_is_refused(
    modules, other_recycler_admin, other_recycler_site
):
    refused("NOT_CUSTODIAN", recycle, user=other_recycler_admin, site=other_recycler_site)


def test_recycling_needs_a_material_recovery_licence(modules, recycler_operator):
    from tests.factories import licensed_facility

    site = licensed_facility(recycler_operator.organisation, activities=["intake", "storage"])
    refused("SCOPE_NOT_COVERED", recycle, user=recycler_operator, site=site)


def test_a_retried_recycling_step_has_one_effect(modules, recycler_operator, recycler_site):
    first = recycle(recycler_operator, recycler_site, idempotency_key="run-7")
    again = recycle(recycler_operator, recycler_site, idempotency_key="run-7")
    assert again.replayed
    assert again.event.pk == first.event.pk
    assert MaterialLot.objects.count() == 2


def test_a_lot_splits_and_merges_with_exact_masses(modules, recycler_operator, recycler_site):
    black_mass, _scrap = produced_lots(recycle(recycler_operator, recycler_site))
    split = services.split_lot(
        by=recycler_operator,
        code=black_mass.code,
        facility=recycler_site,
        parts=["60.000", "39.500"],
        losses_kg="0.5",
    )
    parts = produced_lots(split)
    assert [part.mass_kg for part in parts] == [Decimal("60.000"), Decimal("39.500")]
    black_mass.refresh_from_db()
    assert black_mass.status == "split"
    refused(
        "MASS_BALANCE",
        services.split_lot,
        by=recycler_operator,
        code=parts[0].code,
        facility=recycler_site,
        parts=["30", "29"],
    )
    merged = services.merge_lots(
        by=recycler_operator, codes=[part.code for part in parts], facility=recycler_site, losses_kg="0.250"
    )
    (result,) = produced_lots(merged)
    assert result.mass_kg == Decimal("99.250")
    assert result.material == "black_mass"


def test_only_lots_of_one_material_merge(modules, recycler_operator, recycler_site):
    black_mass, scrap = produced_lots(recycle(recycler_operator, recycler_site))
    refused(
        "MATERIAL_MISMATCH",
        services.merge_lots,
        by=recycler_operator,
        codes=[black_mass.code, scrap.code],
        facility=recycler_site,
    )


def test_a_lot_is_transferred_exported_and_then_nothing_more(
    modules, recycler_operator, recycler_site, other_recycler_admin, other_recycler_site
):
    black_mass, _scrap = produced_lots(recycle(recycler_operator, recycler_site))
    transfer = services.initiate_transfer(
        by=recycler_operator,
        lot_code=black_mass.code,
        to_organisation=other_recycler_site.organisation,
        to_facility=other_recycler_site,
    ).transfer
    accepted = services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk)
    assert accepted.event.activity == "storage"
    black_mass.refresh_from_db()
    assert black_mass.current_custodian == other_recycler_admin.organisation
    assert black_mass.facility == other_recycler_site
    services.export_lot(
        by=other_recycler_admin, code=black_mass.code, destination_country="de", consignee="Hydro GmbH"
    )
    refused(
        "ILLEGAL_TRANSITION",
        services.dispose_lot,
        by=other_recycler_admin,
        code=black_mass.code,
        facility=other_recycler_site,
        method="x",
    )


def test_the_trace_of_a_lot_reaches_every_battery_oem_site_and_licence(
    modules, registered_pack, recycler_operator, recycler_site, other_recycler_admin, other_recycler_site
):
    _black_mass, scrap = produced_lots(recycle(recycler_operator, recycler_site))
    transfer = services.initiate_transfer(
        by=recycler_operator,
        lot_code=scrap.code,
        to_organisation=other_recycler_site.organisation,
        to_facility=other_recycler_site,
    ).transfer
    services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk)
    refined = produced_lots(
        services.record_recycling(
            by=other_recycler_admin,
            facility=other_recycler_site,
            inputs=[{"kind": "lot", "code": scrap.code}],
            outputs=[{"material": "cobalt_salt", "mass_kg": "20.000"}],
            losses_kg="30.000",
        )
    )[0]
    trace = selectors.lot_trace(refined)
    assert {battery.code for battery in trace.batteries} == {registered_pack.code, MODULE_2, MODULE_3}
    assert trace.oems == ("CATL Demo OEM",)
    assert {lot.code for lot in trace.lots} == {scrap.code}
    assert {site.facility for site in trace.sites} == {recycler_site, other_recycler_site}
    assert {item.facility for item in trace.licences} == {recycler_site, other_recycler_site}
    assert trace.lawful


def test_the_trace_costs_the_same_queries_however_deep(modules, recycler_operator, recycler_site):
    black_mass, _scrap = produced_lots(recycle(recycler_operator, recycler_site))
    with CaptureQueriesContext(connection) as shallow:
        selectors.lot_trace(black_mass)
    current = black_mass
    for _ in range(3):
        current = produced_lots(
            services.split_lot(
                by=recycler_operator,
                code=current.code,
                facility=recycler_site,
                parts=[str(current.mass_kg / 2)] * 2,
            )
        )[0]
        current = produced_lots(
            services.record_recycling(
                by=recycler_operator,
                facility=recycler_site,
                inputs=[{"kind": "lot", "code": current.code}],
                outputs=[{"material": "black_mass", "mass_kg": str(current.mass_kg)}],
                losses_kg="0",
            )
        )[0]
    with CaptureQueriesContext(connection) as deep:
        trace = selectors.lot_trace(current)
    # One recursive walk, then batteries, lots (none for a first-generation lot), events and revocations.
    assert len(shallow.captured_queries) <= len(deep.captured_queries) == 5
    assert {battery.code for battery in trace.batteries} >= {MODULE_2, MODULE_3}
