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
