"""Who may do what with custody (django `rules`; the services check the same through `actor_for`)."""

from __future__ import annotations

import rules

from accounts.roles import can_operate, is_authority, is_org_admin, is_platform_admin

rules.add_perm("custody.record_steps", can_operate)
rules.add_perm("custody.view_custody", is_platform_admin | rules.is_authenticated)
rules.add_perm("custody.run_audit", is_platform_admin | is_authority)
# BMS history requests: operators and administrators ask; only the custodian's administrators decide.
rules.add_perm("custody.request_history", can_operate)
rules.add_perm("custody.decide_history_requests", is_org_admin)
