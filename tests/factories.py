"""factory_boy factories with valid defaults; traits name domain states."""

from __future__ import annotations

import factory

from accounts.models import Membership, Organisation, User


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = Organisation.Kind.RECYCLER
    country = "CN"

    class Params:
        oem = factory.Trait(kind=Organisation.Kind.OEM)
        recycler = factory.Trait(kind=Organisation.Kind.RECYCLER)
        second_life = factory.Trait(kind=Organisation.Kind.SECOND_LIFE)
        buyer = factory.Trait(kind=Organisation.Kind.BUYER, country="DE")
        test_lab = factory.Trait(kind=Organisation.Kind.TEST_LAB)
        auditor = factory.Trait(kind=Organisation.Kind.AUDITOR)
        regulator = factory.Trait(kind=Organisation.Kind.REGULATOR)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def persist_password(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Membership.Role.ADMIN


def member_of(organisation: Organisation, role: str = Membership.Role.ADMIN, **user_fields: object) -> User:
    """A user who works for `organisation` with `role`."""
    return MembershipFactory(organisation=organisation, role=role, user=UserFactory(**user_fields)).user


# Licensing
from datetime import date  # noqa: E402

from licensing import local_time  # noqa: E402


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "licensing.Facility"

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Facility {n}")
    address = "1 Industrial Road"
    province = "CN-JX"
    country = "CN"
    timezone = "Asia/Shanghai"


class LicenceFactory(factory.django.DjangoModelFactory):
    """A licence and its `issued` event, as `issue_licence` writes them; valid 2024-01-01 to 2026-06-30."""

    class Meta:
        model = "licensing.Licence"
        skip_postgeneration_save = True

    facility = factory.SubFactory(FacilityFactory)
    kind = "hazardous_waste"
    issuing_authority = "Jiangxi Provincial Department of Ecology and Environment"
    number = factory.Sequence(lambda n: f"JXHW-{n:05d}")
    activities = factory.LazyFunction(
        lambda: ["intake", "storage", "dismantling", "second_life", "material_recovery"]
    )
    valid_from = date(2024, 1, 1)
    valid_until = date(2026, 6, 30)
    starts_at = factory.LazyAttribute(
        lambda licence: local_time.start_of_day(licence.valid_from, licence.facility.timezone)
    )
    ends_at = factory.LazyAttribute(
        lambda licence: (
            local_time.end_of_day(licence.valid_until, licence.facility.timezone)
            if licence.valid_until
            else None
        )
    )

    @factory.post_generation
    def issued_event(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.events.create(
                kind="issued",
                effective_at=self.starts_at,
                new_valid_until=self.valid_until,
                new_ends_at=self.ends_at,
                new_activities=self.activities,
            )


# Passport
from decimal import Decimal  # noqa: E402


def gbt_code(
    manufacturer: str = "HNC",
    *,
    product_type: str = "P",
    battery_type: str = "B",
    spec: str = "AB",
    traceability: str = "1234567",
    date_letters: str = "T2M",
    serial: int = 1,
) -> str:
    """A valid GB/T 34014 code (T2M = 21 February 2026)."""
    return f"{manufacturer}{product_type}{battery_type}{spec}{traceability}{date_letters}{serial:07d}"


class ManufacturerCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "passport.ManufacturerCode"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"M{n % 100:02d}")
    oem = factory.SubFactory(OrganisationFactory, oem=True)


class BatteryModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "passport.BatteryModel"
        django_get_or_create = ("oem", "name")

    oem = factory.SubFactory(OrganisationFactory, oem=True)
    name = factory.Sequence(lambda n: f"LFP-280-PACK-{n}")
    chemistry = "lfp"
    product_type = "P"
    rated_capacity_ah = Decimal("280.000")
    nominal_voltage_v = Decimal("320.000")
    rated_energy_kwh = Decimal("89.600")
    mass_kg = Decimal("520.000")
    cell_count = 100
    configuration = "100S1P"
    expected_cycle_life = 4000
    expected_lifetime_years = 10
    cell_voltage_min_v = Decimal("2.500")
    cell_voltage_max_v = Decimal("3.650")

    class Params:
        module = factory.Trait(
            name=factory.Sequence(lambda n: f"LFP-MOD-16-{n}"),
            product_type="M",
            rated_energy_kwh=Decimal("14.336"),
            nominal_voltage_v=Decimal("51.200"),
            mass_kg=Decimal("80.000"),
            cell_count=16,
            configuration="16S1P",
        )
        cell = factory.Trait(
            name=factory.Sequence(lambda n: f"LFP-CELL-280-{n}"),
            product_type="C",
            rated_energy_kwh=Decimal("0.896"),
            nominal_voltage_v=Decimal("3.200"),
            mass_kg=Decimal("5.400"),
            cell_count=1,
            configuration="1S1P",
        )


class BatteryFactory(factory.django.DjangoModelFactory):
    """A battery its OEM registered itself (origin verified), held by the OEM."""

    class Meta:
        model = "passport.Battery"

    class Params:
        manufacturer = factory.SubFactory(ManufacturerCodeFactory)
        number = factory.Sequence(lambda n: n + 1)

    oem = factory.LazyAttribute(lambda battery: battery.manufacturer.oem)
    code = factory.LazyAttribute(
        lambda battery: gbt_code(
            battery.manufacturer.code, product_type=battery.product_type, serial=battery.number
        )
    )
    scheme = "gbt34014"
    manufacturer_code = factory.LazyAttribute(lambda battery: battery.manufacturer.code)
    product_type = "P"
    battery_type = "B"
    spec_code = "AB"
    traceability_code = "1234567"
    serial = factory.LazyAttribute(lambda battery: f"{battery.number:07d}")
    production_date = date(2026, 2, 21)
    battery_model = factory.LazyAttribute(
        lambda battery: BatteryModelFactory(
            oem=battery.oem,
            name=f"LFP-{battery.product_type}",
            product_type=battery.product_type,
        )
    )
    status = "registered"
    origin = "verified"
    current_custodian = factory.LazyAttribute(lambda battery: battery.oem)
    registered_by = factory.LazyAttribute(lambda battery: battery.oem)


# BMS snapshots
def lfp_battery_model(oem: Organisation) -> object:
    """The 96-cell LFP pack of tests/snapshot_builders.py (96S2P, 200 Ah, 61.4 kWh) as a battery model."""
    return BatteryModelFactory(
        oem=oem,
        name="A1B-LFP-96S2P",
        rated_capacity_ah=Decimal("200.000"),
        nominal_voltage_v=Decimal("307.200"),
        rated_energy_kwh=Decimal("61.400"),
        mass_kg=Decimal("410.000"),
        cell_count=192,
        configuration="96S2P",
    )


def lfp_battery(
    oem: Organisation,
    *,
    code: str | None = None,
    custodian: Organisation | None = None,
    production_date: date = date(2024, 1, 10),
) -> object:
    """A battery of that model (produced 10 January 2024 unless told), held by `custodian` (default: OEM)."""
    from tests.snapshot_builders import DEFAULT_BATTERY_CODE

    code = code or DEFAULT_BATTERY_CODE
    return BatteryFactory(
        manufacturer=ManufacturerCodeFactory(code=code[:3], oem=oem),
        code=code,
        manufacturer_code=code[:3],
        battery_model=lfp_battery_model(oem),
        production_date=production_date,
        current_custodian=custodian or oem,
        serial=code[-7:],
    )


# Custody
ALL_ACTIVITIES = ["intake", "storage", "dismantling", "second_life", "material_recovery"]


def licensed_facility(
    organisation: Organisation,
    *,
    name: str | None = None,
    activities: list[str] | None = None,
    valid_from: date = date(2024, 1, 1),
    valid_until: date | None = None,
) -> object:
    """A site of `organisation` holding one licence (by default open-ended, for every activity)."""
    facility = FacilityFactory(organisation=organisation, **({"name": name} if name else {}))
    LicenceFactory(
        facility=facility,
        activities=list(activities or ALL_ACTIVITIES),
        valid_from=valid_from,
        valid_until=valid_until,
    )
    return facility
