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
