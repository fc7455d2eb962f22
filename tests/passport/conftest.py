"""Passport fixtures: an OEM with a manufacturer code, its models, and a registration signing key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Membership, Organisation, User
from core import signing
from passport import services
from passport.models import BatteryModel, DeviceKey, ManufacturerCode
from tests.factories import (
    BatteryModelFactory,
    ManufacturerCodeFactory,
    OrganisationFactory,
    gbt_code,
    member_of,
)

PACK = gbt_code("HNC", product_type="P", serial=1)
MODULE = gbt_code("HNC", product_type="M", serial=2)
CELL = gbt_code("HNC", product_type="C", serial=3)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Cached QR images and shared public pages must not leak from one test's data into another's."""
    cache.clear()


@pytest.fixture
def hnc(oem_org: Organisation) -> ManufacturerCode:
    return ManufacturerCodeFactory(code="HNC", oem=oem_org)


@pytest.fixture
def other_oem_org(db: None) -> Organisation:
    return OrganisationFactory(name="Zhongyuan OEM", kind=Organisation.Kind.OEM, country="CN")


@pytest.fixture
def zya(other_oem_org: Organisation) -> ManufacturerCode:
    return ManufacturerCodeFactory(code="ZYA", oem=other_oem_org)


@pytest.fixture
def other_oem_admin(other_oem_org: Organisation) -> User:
    return member_of(other_oem_org, Membership.Role.ADMIN, username="other-oem-admin")


@pytest.fixture
def oem_viewer(oem_org: Organisation) -> User:
    return member_of(oem_org, Membership.Role.VIEWER, username="oem-viewer")


@pytest.fixture
def models(oem_org: Organisation, hnc: ManufacturerCode) -> dict[str, BatteryModel]:
    return {
        "P": BatteryModelFactory(oem=oem_org, name="HN-LFP-280-PACK"),
        "M": BatteryModelFactory(oem=oem_org, name="HN-LFP-MOD-16", module=True),
        "C": BatteryModelFactory(oem=oem_org, name="HN-LFP-CELL-280", cell=True),
    }


@pytest.fixture
def signer(oem_org: Organisation, oem_admin: User) -> tuple[DeviceKey, Any]:
    """A registration signing key of the OEM, valid from a day ago."""
    private_key = signing.generate_private_key()
    key = services.register_device_key(
        organisation=oem_org,
        by=oem_admin,
        public_key=signing.public_key_pem(private_key),
        purpose=DeviceKey.Purpose.REGISTRATION,
        valid_from=timezone.now() - timedelta(days=1),
    )
    return key, private_key


def signed_record(private_key: Any, **payload: str) -> dict[str, Any]:
    payload.setdefault("signed_at", timezone.now().isoformat())
    return services.sign_registration_payload(payload, private_key)
