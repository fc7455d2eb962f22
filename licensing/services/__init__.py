"""Licensing writes: `ensure_permitted` for other apps, the regulator's actions and the expiry job."""

from licensing.services.expiry import (
    email_claimed_warnings,
    expire_and_warn,
    record_expiries,
    run_expiry_job,
    send_expiry_warnings,
)
from licensing.services.licences import (
    LicenceError,
    change_licence_scope,
    clean_activities,
    ensure_permitted,
    issue_licence,
    record_licence_event,
    register_facility,
    reinstate_licence,
    renew_licence,
    revoke_licence,
    submit_evidence,
    suspend_licence,
)

__all__ = [
    "LicenceError",
    "change_licence_scope",
    "clean_activities",
    "email_claimed_warnings",
    "ensure_permitted",
    "expire_and_warn",
    "issue_licence",
    "record_expiries",
    "record_licence_event",
    "register_facility",
    "reinstate_licence",
    "renew_licence",
    "revoke_licence",
    "run_expiry_job",
    "send_expiry_warnings",
    "submit_evidence",
    "suspend_licence",
]
