"""Personas, API clients and the rules for tests that need real services.

Set REQUIRE_SERVICES=1 (CI does) and a test that needs PostgreSQL, Redis or Chromium fails when it
cannot have it, instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from contextlib import ExitStack
from typing import Any

import pytest
from django.db import connection, connections
from django.test import TransactionTestCase
from rest_framework.test import APIClient

from accounts.models import Membership, Organisation, User
from core.db import purge_for_tests
from tests.factories import OrganisationFactory, member_of

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
PASSWORD = "correct horse battery staple"


def need_service(available: bool, reason: str) -> None:
    """Skip when a service is missing locally; fail under REQUIRE_SERVICES=1."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"Required service unavailable: {reason}")
    pytest.skip(reason)


# Append-only tables refuse DELETE and TRUNCATE; only the reset between transactional tests may purge.
_original_teardown = TransactionTestCase._fixture_teardown


def _teardown_with_purge(self: TransactionTestCase) -> None:
    with ExitStack() as stack:
        for alias in self._databases_names(include_mirrors=False):
            stack.enter_context(purge_for_tests(connections[alias]))
        _original_teardown(self)


TransactionTestCase._fixture_teardown = _teardown_with_purge  # type: ignore[method-assign]


@pytest.fixture
def postgres(db: None) -> None:
    """The test needs PostgreSQL (row locks, concurrent connections)."""
    need_service(connection.vendor == "postgresql", "this test needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    need_service(os.path.exists(path), "Chromium is not installed (apt-get install chromium)")
    return path


# Personas
@pytest.fixture
def oem_org(db: None) -> Organisation:
    return OrganisationFactory(name="CATL Demo OEM", kind=Organisation.Kind.OEM, country="CN")


@pytest.fixture
def recycler_org(db: None) -> Organisation:
    return OrganisationFactory(name="Licensed Recycler", kind=Organisation.Kind.RECYCLER, country="CN")


@pytest.fixture
def other_recycler_org(db: None) -> Organisation:
    return OrganisationFactory(name="Other Recycler", kind=Organisation.Kind.RECYCLER, country="CN")


@pytest.fixture
def buyer_org(db: None) -> Organisation:
    return OrganisationFactory(name="Buyer GmbH", kind=Organisation.Kind.BUYER, country="DE")


@pytest.fixture
def regulator_org(db: None) -> Organisation:
    return OrganisationFactory(name="Provincial MIIT", kind=Organisation.Kind.REGULATOR, country="CN")


@pytest.fixture
def auditor_org(db: None) -> Organisation:
    return OrganisationFactory(name="Audit Co", kind=Organisation.Kind.AUDITOR, country="CN")


@pytest.fixture
def test_lab_org(db: None) -> Organisation:
    return OrganisationFactory(name="Evaluation Institute", kind=Organisation.Kind.TEST_LAB, country="CN")


@pytest.fixture
def oem_admin(oem_org: Organisation) -> User:
    return member_of(oem_org, Membership.Role.ADMIN, username="oem-admin")


@pytest.fixture
def recycler_admin(recycler_org: Organisation) -> User:
    return member_of(recycler_org, Membership.Role.ADMIN, username="recycler-admin")


@pytest.fixture
def recycler_operator(recycler_org: Organisation) -> User:
    return member_of(recycler_org, Membership.Role.OPERATOR, username="recycler-operator")


@pytest.fixture
def recycler_viewer(recycler_org: Organisation) -> User:
    return member_of(recycler_org, Membership.Role.VIEWER, username="recycler-viewer")


@pytest.fixture
def other_recycler_admin(other_recycler_org: Organisation) -> User:
    return member_of(other_recycler_org, Membership.Role.ADMIN, username="other-recycler-admin")


@pytest.fixture
def buyer_user(buyer_org: Organisation) -> User:
    return member_of(buyer_org, Membership.Role.ADMIN, username="buyer")


@pytest.fixture
def regulator(regulator_org: Organisation) -> User:
    return member_of(regulator_org, Membership.Role.ADMIN, username="regulator")


@pytest.fixture
def auditor(auditor_org: Organisation) -> User:
    return member_of(auditor_org, Membership.Role.VIEWER, username="auditor")


@pytest.fixture
def lab_admin(test_lab_org: Organisation) -> User:
    return member_of(test_lab_org, Membership.Role.ADMIN, username="lab-admin")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api_as(api_client: APIClient) -> Any:
    """`api_as(user)` returns an API client authenticated as `user`."""

    def login(user: User) -> APIClient:
        api_client.force_authenticate(user=user)
        return api_client

    return login


@pytest.fixture(autouse=True)
def _isolated_media(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


# Transparency log
@pytest.fixture
def auditor_admin(auditor_org: Organisation) -> User:
    """An administrator of the auditor organisation: may register witness keys and cosign."""
    return member_of(auditor_org, Membership.Role.ADMIN, username="auditor-admin")


# BMS snapshots: the LFP pack of tests/snapshot_builders.py, registered by its OEM, and device keys
@pytest.fixture
def lfp_pack(oem_org: Organisation) -> Any:
    """Battery A1BPB96LFP0001R3C0000123 (the builders' default code), made and held by the OEM."""
    from tests.factories import lfp_battery

    return lfp_battery(oem_org)


def register_test_device_key(organisation: Organisation, user: User, seed: int, **fields: Any) -> Any:
    """Register the builders' deterministic device key `seed` for `organisation`, valid since 2020."""
    from datetime import UTC, datetime

    from core import signing
    from passport import services
    from tests.snapshot_builders import device_key

    fields.setdefault("purpose", "bms_device")
    fields.setdefault("valid_from", datetime(2020, 1, 1, tzinfo=UTC))
    return services.register_device_key(
        organisation=organisation, by=user, public_key=signing.public_key_pem(device_key(seed)), **fields
    )


@pytest.fixture
def oem_device_key(oem_org: Organisation, oem_admin: User) -> Any:
    """The OEM's BMS device key: tests.snapshot_builders.device_key(1), the builders' default signer."""
    return register_test_device_key(oem_org, oem_admin, 1, device_serial="BMS-A1B-0000123")


@pytest.fixture
def recycler_device_key(recycler_org: Organisation, recycler_admin: User) -> Any:
    """The recycler's tester: tests.snapshot_builders.device_key(2)."""
    return register_test_device_key(recycler_org, recycler_admin, 2, device_serial="TESTER-7")


@pytest.fixture(autouse=True)
def _bms_history_verdict_check() -> None:
    """The snapshots' `bms_history` check is installed (a test may have put the built-in one back)."""
    from passport.snapshots.verdict import check_bms_history
    from passport.verdict import register_verdict_check

    register_verdict_check("bms_history", check_bms_history)


# Custody: licensed sites of the two recyclers, and the custody reasons of the verdict
@pytest.fixture
def recycler_site(recycler_org: Organisation) -> Any:
    """The recycler's Ganzhou plant, licensed since 2024 for every activity, with no end date."""
    from tests.factories import licensed_facility

    return licensed_facility(recycler_org, name="Ganzhou plant")


@pytest.fixture
def other_recycler_site(other_recycler_org: Organisation) -> Any:
    """The other recycler's plant, licensed since 2024 for every activity."""
    from tests.factories import licensed_facility

    return licensed_facility(other_recycler_org, name="Hunan plant")


@pytest.fixture(autouse=True)
def _custody_passport_extensions() -> None:
    """Custody's verdict reasons, summary and hooks are installed (a passport test may have reset them)."""
    from custody import verdict
    from custody.services.steps import record_registrations
    from passport import access, hooks, summary
    from passport.verdict import register_verdict_check

    register_verdict_check("licensed_sites", verdict.check_licensed_sites)
    register_verdict_check("chain_intact", verdict.check_chain_intact)
    summary.register_custody_summary(verdict.custody_summary)
    access.register_interest_provider(verdict.pending_transfer_interest)
    hooks.register_on_registered(record_registrations)


@pytest.fixture
def hnc_models(oem_org: Organisation) -> dict[str, Any]:
    """The OEM's manufacturer code HNC and its pack (520 kg), module (80 kg) and cell (5.4 kg) models."""
    from tests.factories import BatteryModelFactory, ManufacturerCodeFactory

    ManufacturerCodeFactory(code="HNC", oem=oem_org)
    return {
        "P": BatteryModelFactory(oem=oem_org, name="HN-LFP-280-PACK"),
        "M": BatteryModelFactory(oem=oem_org, name="HN-LFP-MOD-16", module=True),
        "C": BatteryModelFactory(oem=oem_org, name="HN-LFP-CELL-280", cell=True),
    }


@pytest.fixture
def registered_pack(oem_admin: User, hnc_models: dict[str, Any]) -> Any:
    """Pack HNC…0000001 with modules …0000002 and …0000003, registered by the OEM through the service."""
    from passport.models import Battery
    from passport.services import RegistrationRequest, register_batteries
    from tests.factories import gbt_code

    pack = gbt_code("HNC", product_type="P", serial=1)
    modules = [
        RegistrationRequest(
            code=gbt_code("HNC", product_type="M", serial=serial), model="HN-LFP-MOD-16", parent_code=pack
        )
        for serial in (2, 3)
    ]
    register_batteries(
        requests=[RegistrationRequest(code=pack, model="HN-LFP-280-PACK"), *modules], by=oem_admin
    )
    return Battery.objects.get(code=pack)
