"""Demo custody: batteries taken in, graded, handed over, dismantled, repurposed and recycled into lots,
all through the custody services. Every step carries an idempotency key, so a second run replays the
first run's results and changes nothing.

GreenCycle takes Huaneng's first pack in at Ganzhou, grades it, dismantles it into its four modules and
recycles two of them into black mass and cathode scrap (the black mass is then split); the second pack is
graded and handed to SecondVolt, whose Ningbo centre re-codes it for stationary storage; the third pack is
offered to Lingnan and waits for an answer. A checkpoint of the transparency log then covers it all.
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.models import User
from custody import selectors, services
from custody.events.models import CustodyEvent
from custody.lots.models import MaterialLot
from custody.transparency.services import run_checkpoint_publication
from demo.seed_accounts import organisation
from demo.seed_licensing import GREENCYCLE, LINGNAN, SECONDVOLT
from demo.seed_passport import code
from licensing.models import Facility

GANZHOU = "GreenCycle Ganzhou Dismantling Works"
NINGBO = "SecondVolt Ningbo Repurposing Centre"
QINGYUAN = "Lingnan Qingyuan Yard"
LAB = "National Battery Evaluation Institute (demo)"

PACK_1 = code("HNC", "P", "B", "S4F", 100, "GZ25L07")
PACK_2 = code("HNC", "P", "B", "S4F", 200, "GZ25L07")
PACK_3 = code("HNC", "P", "B", "T1A", 300, "GZ25L07")
MODULES_1 = [code("HNC", "M", "B", "S4F", 100 + number, "GZ25L07") for number in range(1, 5)]
RECODED_2 = "HNCPBA1T1A0000201RP"


def _site(owner: str, name: str) -> Facility:
    return Facility.objects.get(organisation=organisation(owner), name=name)


def seed(say: Callable[[str], None]) -> None:
    greencycle = User.objects.get(username="recycler-operator")
    secondvolt = User.objects.get(username="secondlife-operator")
    ganzhou, ningbo = _site(GREENCYCLE, GANZHOU), _site(SECONDVOLT, NINGBO)
    lab = organisation(LAB)

    # Pack 1: intake, grading, dismantling, recycling of two modules, a split of the black mass.
    services.record_intake(
        by=greencycle,
        code=PACK_1,
        facility=ganzhou,
        note="Retired taxi pack",
        idempotency_key="demo-intake-1",
    )
    services.record_grading(
        by=greencycle, code=PACK_1, facility=ganzhou, grade="C", method="0.5C capacity test, 71% of rated",
        lab=lab, idempotency_key="demo-grade-1",
    )  # fmt: skip
    services.record_dismantling(
        by=greencycle, code=PACK_1, facility=ganzhou, components=MODULES_1, idempotency_key="demo-dismantle-1"
    )
    recycled = services.record_recycling(
        by=greencycle,
        facility=ganzhou,
        inputs=[{"code": MODULES_1[0], "mass_kg": "88.000"}, {"code": MODULES_1[1], "mass_kg": "87.600"}],
        outputs=[
            {"material": "black_mass", "mass_kg": "104.200"},
            {"material": "cathode_scrap", "mass_kg": "61.900"},
        ],
        losses_kg="9.500",
        process="Discharge, shredding, sieving",
        idempotency_key="demo-recycle-1",
    )
    black_mass = next(item["code"] for item in selectors.produced_from(recycled.event)
                      if MaterialLot.objects.get(code=item["code"]).material == "black_mass")  # fmt: skip
    services.split_lot(
        by=greencycle, code=black_mass, facility=ganzhou, parts=["60.000", "44.000"], losses_kg="0.200",
        idempotency_key="demo-split-1",
    )  # fmt: skip

    # Pack 2: graded B, handed to SecondVolt, re-coded for a second life.
    services.record_intake(by=greencycle, code=PACK_2, facility=ganzhou, idempotency_key="demo-intake-2")
    services.record_grading(
        by=greencycle, code=PACK_2, facility=ganzhou, grade="B", method="0.5C capacity test, 86% of rated",
        lab=lab, idempotency_key="demo-grade-2",
    )  # fmt: skip
    offer = services.initiate_transfer(
        by=greencycle, battery_code=PACK_2, to_organisation=organisation(SECONDVOLT), to_facility=ningbo,
        note="Grade B pack for stationary storage", idempotency_key="demo-offer-2",
    )  # fmt: skip
    services.accept_transfer(by=secondvolt, transfer=offer.transfer, idempotency_key="demo-accept-2")
    services.record_repurposing(
        by=secondvolt, code=PACK_2, facility=ningbo, new_code=RECODED_2, application="Home energy storage",
        idempotency_key="demo-repurpose-2",
    )  # fmt: skip

    # Pack 3: taken in and offered to Lingnan, who has not answered yet.
    services.record_intake(by=greencycle, code=PACK_3, facility=ganzhou, idempotency_key="demo-intake-3")
    services.initiate_transfer(
        by=greencycle, battery_code=PACK_3, to_organisation=organisation(LINGNAN),
        to_facility=_site(LINGNAN, QINGYUAN), idempotency_key="demo-offer-3",
    )  # fmt: skip

    run = run_checkpoint_publication()
    say(
        f"Custody: {CustodyEvent.objects.count()} events, {MaterialLot.objects.count()} material lots, "
        f"log of {run.counts['tree_size']} leaves; try /batteries/{PACK_1}/timeline and /lots/{black_mass}"
    )
