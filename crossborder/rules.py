"""Who may do what with cross-border data (django `rules`; the services check the holder too)."""

from __future__ import annotations

from typing import Any

import rules

from accounts.roles import can_operate, is_org_admin, is_platform_admin, is_regulator


@rules.predicate
def has_organisation(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and getattr(user, "organisation", None))


# Record and revoke approvals: regulators (for holders in their country) and holders' administrators.
rules.add_perm(
    "crossborder.record_approval", (is_regulator & can_operate) | (has_organisation & is_org_admin)
)
# Approvals and the export log are readable by members (scoped to their organisation) and authorities.
rules.add_perm("crossborder.view_approvals", is_platform_admin | has_organisation)
rules.add_perm("crossborder.view_export_log", is_platform_admin | has_organisation)
