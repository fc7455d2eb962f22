"""Writes for organisations and their users."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Membership, Organisation, User
from core.errors import Conflict, InvalidInput


@transaction.atomic
def create_organisation(*, name: str, kind: str, country: str) -> Organisation:
    """Register an organisation taking part in the battery chain."""
    country = country.strip().upper()
    if kind not in Organisation.Kind.values:
        raise InvalidInput(_("Unknown organisation kind: %(kind)s.") % {"kind": kind}, field="kind")
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        raise InvalidInput(_("Country must be an ISO 3166-1 alpha-2 code such as CN."), field="country")
    if Organisation.objects.filter(name=name).exists():
        raise Conflict(_("An organisation named %(name)s already exists.") % {"name": name}, field="name")
    return Organisation.objects.create(name=name, kind=kind, country=country)


@transaction.atomic
def add_member(
    *, organisation: Organisation, username: str, password: str | None, role: str, email: str = ""
) -> User:
    """Create a user who works for `organisation` with `role`."""
    if role not in Membership.Role.values:
        raise InvalidInput(_("Unknown role: %(role)s.") % {"role": role}, field="role")
    if User.objects.filter(username=username).exists():
        raise Conflict(_("The username %(username)s is taken.") % {"username": username}, field="username")
    user = User.objects.create_user(username=username, password=password, email=email)
    Membership.objects.create(user=user, organisation=organisation, role=role)
    return user
