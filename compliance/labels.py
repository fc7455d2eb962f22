"""Readable, translated names of the checklist's figures, for the pages and the PDF (the JSON keeps keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

FIGURE_LABELS = {
    "facilities": gettext_lazy("Facilities"),
    "licences": gettext_lazy("Licences on record"),
    "licences_in_force": gettext_lazy("Licences in force"),
    "licences_expiring_soon": gettext_lazy("Licences expiring within 30 days"),
    "licences_suspended": gettext_lazy("Licences suspended"),
    "facilities_without_licence_in_force": gettext_lazy("Facilities without a licence in force"),
    "window_days": gettext_lazy("Window (days)"),
    "licensed_steps_in_window": gettext_lazy("Licensed custody steps in the window"),
    "steps_without_cover": gettext_lazy("Steps without licence cover"),
    "steps_flagged_by_retroactive_revocation": gettext_lazy("Steps flagged by a retroactive revocation"),
    "activities_without_cover_now": gettext_lazy("Recent activities no longer covered"),
    "batteries": gettext_lazy("Batteries"),
    "verified": gettext_lazy("Origin verified by the OEM"),
    "claimed": gettext_lazy("Origin claimed"),
    "disputed": gettext_lazy("Origin disputed"),
    "verified_share_pct": gettext_lazy("Verified share (%)"),
    "snapshots": gettext_lazy("BMS snapshots"),
    "sealed": gettext_lazy("Payloads stored (sealed)"),
    "shredded": gettext_lazy("Payloads crypto-shredded"),
    "retained_until_earliest": gettext_lazy("Retained until (earliest)"),
    "retained_until_latest": gettext_lazy("Retained until (latest)"),
    "under_legal_hold": gettext_lazy("Snapshots under legal hold"),
    "legal_holds_in_force": gettext_lazy("Legal holds in force"),
    "shredding_overdue": gettext_lazy("Shredding overdue"),
    "shredding_due_within_grace": gettext_lazy("Shredding due (within grace)"),
    "shredded_late": gettext_lazy("Shredded late"),
    "shredded_before_retention_end": gettext_lazy("Shredded before retention ended"),
    "retention_shorter_than_minimum": gettext_lazy("Retention shorter than 8 years"),
    "retention_years_setting": gettext_lazy("Retention setting (years)"),
    "packs_in_use": gettext_lazy("Packs in use (past registration)"),
    "packs_without_bms_data": gettext_lazy("Packs without BMS data"),
    "grace_hours": gettext_lazy("Shredding grace (hours)"),
    "retention_job_last_run": gettext_lazy("Retention job last run"),
    "retention_job_last_status": gettext_lazy("Retention job last status"),
    "cipher_configured": gettext_lazy("Cipher configured"),
    "standard": gettext_lazy("Standard"),
    "sealed_payloads": gettext_lazy("Payloads sealed"),
    "payloads_by_cipher": gettext_lazy("Payloads by cipher"),
    "payloads_by_key": gettext_lazy("Payloads by key-encryption key"),
    "current_key": gettext_lazy("Current key"),
    "keys_in_ring": gettext_lazy("Keys in the ring"),
    "payloads_under_older_keys": gettext_lazy("Payloads under older keys"),
    "payloads_under_retired_keys": gettext_lazy("Payloads under keys no longer in the ring"),
    "plaintext_payloads": gettext_lazy("Payloads not encrypted"),
    "last_rotation": gettext_lazy("Last key rotation"),
    "rotation_max_days": gettext_lazy("Rotation due after (days)"),
    "approvals_in_force": gettext_lazy("Approvals in force"),
    "approvals_expiring_soon": gettext_lazy("Approvals expiring within 30 days"),
    "exports_allowed": gettext_lazy("Exports under an approval"),
    "exports_not_requiring_approval": gettext_lazy("Exports needing no approval"),
    "exports_refused": gettext_lazy("Transfers refused"),
    "scans_passed": gettext_lazy("Anonymised exports passed the scan"),
    "scans_blocked": gettext_lazy("Anonymised exports blocked by the scan"),
    "last_refusal_at": gettext_lazy("Last refusal"),
    "last_blocked_at": gettext_lazy("Last blocked export"),
}


def display(value: Any) -> str:
    """A figure's value as text: dates to the minute (UTC), mappings and lists inline, none as a dash."""
    if value is None or value == "" or value == {} or value == []:
        return "—"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs in the order the point lists them."""
    return [(str(FIGURE_LABELS.get(name, name)), display(value)) for name, value in figures.items()]
