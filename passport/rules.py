"""Who may do what with batteries, keys, grants and labels (django `rules`; services check these too)."""

from __future__ import annotations

from typing import Any

import rules

from accounts.models import Organisation
from accounts.roles import can_operate, is_org_admin, is_platform_admin, organisation_kind

is_oem = organisation_kind(Organisation.Kind.OEM)
# Recyclers and second-life integrators may register a battery they found; its origin is then claimed.
may_claim = organisation_kind(Organisation.Kind.RECYCLER, Organisation.Kind.SECOND_LIFE)
holds_batteries = organisation_kind(
    Organisation.Kind.OEM,
    Organisation.Kind.RECYCLER,
    Organisation.Kind.SECOND_LIFE,
    Organisation.Kind.LOGISTICS,
)


@rules.predicate
def is_custodian(user: Any, battery: Any) -> bool:
    organisation = getattr(user, "organisation", None)
    return (
        battery is not None and organisation is not None and battery.current_custodian_id == organisation.pk
    )


@rules.predicate
def owns_key(user: Any, key: Any) -> bool:
    organisation = getattr(user, "organisation", None)
    return key is not None and organisation is not None and key.organisation_id == organisation.pk


rules.add_perm("passport.register_battery", (is_oem | may_claim) & can_operate)
rules.add_perm("passport.import_batteries", (is_oem | may_claim) & can_operate)
rules.add_perm("passport.manage_models", is_platform_admin | (is_oem & can_operate))
rules.add_perm("passport.allocate_manufacturer_code", is_platform_admin)
rules.add_perm("passport.register_device_key", is_platform_admin | is_org_admin)
rules.add_perm("passport.revoke_device_key", is_platform_admin | (is_org_admin & owns_key))
rules.add_perm("passport.grant_access", is_platform_admin | (can_operate & is_custodian))
rules.add_perm("passport.print_labels", is_platform_admin | (holds_batteries & can_operate))
rules.add_perm("passport.view_batteries", is_platform_admin | rules.is_authenticated)
