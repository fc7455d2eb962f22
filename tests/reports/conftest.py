"""Report fixtures: a custody history to report on, and how a worker builds a queued report."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Membership, Organisation
from custody import services as custody_services
from passport.models import Battery
from reports import services
from reports.models import Report
from tests.factories import OrganisationFactory, gbt_code, member_of

MODULES = [gbt_code("HNC", product_type="M", serial=serial) for serial in (2, 3)]


@pytest.fixture
def history(registered_pack: Battery, recycler_operator: Any, recycler_site: Any) -> dict[str, Any]:
    """The OEM's pack (registered, then taken in at the recycler's licensed plant) and its two modules."""
    custody_services.record_intake(by=recycler_operator, code=registered_pack.code, facility=recycler_site)
    return {"pack": registered_pack, "modules": MODULES, "site": recycler_site}


@pytest.fixture
def foreign_regulator(db: None) -> Any:
    organisation = OrganisationFactory(name="Landesamt", kind=Organisation.Kind.REGULATOR, country="DE")
    return member_of(organisation, Membership.Role.ADMIN, username="de-regulator")


def build(report: Report) -> Report:
    """What the worker does with the queued task."""
    return services.build_report(report_id=report.pk)
