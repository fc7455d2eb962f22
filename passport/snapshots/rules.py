"""Who may upload snapshots, hold them, designate labs and read retention reports (django `rules`)."""

from __future__ import annotations

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

reports_snapshots = organisation_kind(
    Organisation.Kind.OEM,
    Organisation.Kind.RECYCLER,
    Organisation.Kind.SECOND_LIFE,
    Organisation.Kind.TEST_LAB,
    Organisation.Kind.LOGISTICS,
)

rules.add_perm("passport.upload_snapshots", reports_snapshots & can_operate)
rules.add_perm("passport.manage_device_keys", is_platform_admin | is_org_admin)
rules.add_perm("passport.place_legal_hold", is_authority)
rules.add_perm("passport.designate_lab", is_regulator)
rules.add_perm("passport.read_raw_telemetry", is_authority)
rules.add_perm("passport.view_retention", is_platform_admin | rules.is_authenticated)
rules.add_perm("passport.certify", organisation_kind(Organisation.Kind.TEST_LAB) & can_operate)
