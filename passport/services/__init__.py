"""Passport writes, split by concept; the public names are re-exported here."""

from passport.services.device_keys import register_device_key, revoke_device_key
from passport.services.grants import grant_access, revoke_access_grant
from passport.services.imports import read_rows, run_registration_import, start_registration_import
from passport.services.labels import label_pdf, render_label_sheet, request_label_sheet
from passport.services.registration import (
    RegistrationRequest,
    plan_registrations,
    record_clone_attempts,
    register_batteries,
)
from passport.services.registry import allocate_manufacturer_code, create_battery_model
from passport.services.signed import (
    register_signed_records,
    sign_registration_payload,
    verify_registration_record,
)

__all__ = [
    "RegistrationRequest",
    "allocate_manufacturer_code",
    "create_battery_model",
    "grant_access",
    "label_pdf",
    "plan_registrations",
    "read_rows",
    "record_clone_attempts",
    "register_batteries",
    "register_device_key",
    "register_signed_records",
    "render_label_sheet",
    "request_label_sheet",
    "revoke_access_grant",
    "revoke_device_key",
    "run_registration_import",
    "sign_registration_payload",
    "start_registration_import",
    "verify_registration_record",
]
