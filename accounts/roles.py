"""Who may do what: role predicates (django `rules`) that views, APIs and services share."""

from __future__ import annotations

from typing import Any

import rules

from accounts.models import Membership, Organisation


def _organisation(user: Any) -> Organisation | None:
    return getattr(user, "organisation", None) if user is not None and user.is_authenticated else None


@rules.predicate
def is_platform_admin(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_superuser)


def organisation_kind(*kinds: str) -> rules.Predicate:
    @rules.predicate(name=f"organisation_kind({','.join(kinds)})")
    def check(user: Any) -> bool:
        organisation = _organisation(user)
        return organisation is not None and organisation.kind in kinds

    return check


def has_role(*roles: str) -> rules.Predicate:
    @rules.predicate(name=f"has_role({','.join(roles)})")
    def check(user: Any) -> bool:
        return _organisation(user) is not None and user.role in roles

    return check


is_regulator = organisation_kind(Organisation.Kind.REGULATOR)
is_authority = organisation_kind(Organisation.Kind.REGULATOR, Organisation.Kind.AUDITOR)
is_org_admin = has_role(Membership.Role.ADMIN)
can_operate = has_role(Membership.Role.ADMIN, Membership.Role.OPERATOR)

rules.add_perm("accounts.view_all", is_platform_admin | is_authority)
