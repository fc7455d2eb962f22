"""Demo for the compliance checklist: GreenCycle recycles the three loose Huaneng cells it found (their
origin only claimed) at its Ganzhou works, so that facility's traceability point shows red, beside the
licence stories of seed_licensing (an expiring, a suspended, an expired and a revoked licence: amber)
and clean sites (green). Through the custody services with an idempotency key: a second run changes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.models import User
from custody import services
from custody.transparency.services import run_checkpoint_publication
from demo.seed_custody import GANZHOU, _site
from demo.seed_licensing import GREENCYCLE
from demo.seed_passport import code

FOUND_CELLS = [code("HNC", "C", "B", "R8C", number, "GZ24H11") for number in (7001, 7002, 7003)]


def seed(say: Callable[[str], None]) -> None:
    services.record_recycling(
        by=User.objects.get(username="recycler-operator"),
        facility=_site(GREENCYCLE, GANZHOU),
        inputs=[{"code": cell, "mass_kg": "5.400"} for cell in FOUND_CELLS],
        outputs=[{"material": "black_mass", "mass_kg": "11.800"}],
        losses_kg="4.400",
        process="Discharge and shredding of loose cells of unverified origin",
        idempotency_key="demo-recycle-found-cells",
    )
    run_checkpoint_publication()
    say(
        "Compliance: GreenCycle recycled 3 cells of claimed origin at Ganzhou; checklists at /compliance/ "
        "(regulator-admin chooses any organisation or facility in China)"
    )
