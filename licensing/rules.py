"""Who may do what with facilities and licences (django `rules`; services check these too)."""

from __future__ import annotations

from typing import Any

import rules

from accounts.models import Organisation
from accounts.roles import (
    can_operate,
    is_authority,
    is_org_admin,
    is_platform_admin,
    is_regulator,
    organisation_kind,
)


@rules.predicate
def owns_licence(user: Any, licence: Any) -> bool:
    organisation = getattr(user, "organisation", None)
    return (
        licence is not None
        and organisation is not None
        and licence.facility.organisation_id == organisation.pk
    )


@rules.predicate
def belongs_to(user: Any, organisation: Any) -> bool:
    own = getattr(user, "organisation", None)
    return organisation is not None and own is not None and own.pk == organisation.pk


is_licensing_authority = is_platform_admin | (is_regulator & can_operate)
holds_facilities = organisation_kind(
    Organisation.Kind.RECYCLER,
    Organisation.Kind.SECOND_LIFE,
    Organisation.Kind.LOGISTICS,
    Organisation.Kind.OEM,
)

# Issue, renew, change scope, suspend, reinstate, revoke: never the facility itself.
rules.add_perm("licensing.manage_licence", is_licensing_authority)
# Renewal evidence: the facility organisation's admins, and the authorities.
rules.add_perm("licensing.submit_evidence", is_licensing_authority | (is_org_admin & owns_licence))
# A facility is registered by its organisation's admin or by an authority.
rules.add_perm("licensing.register_facility", is_licensing_authority | (is_org_admin & belongs_to))
rules.add_perm("licensing.view_facilities", is_platform_admin | is_authority | holds_facilities)
