"""The numbers that turn the checklist's figures into colours (documented in `compliance.selectors`)."""

from __future__ import annotations

# (1) Licence validity
ACTIVITY_WINDOW_DAYS = 90  # custody steps this recent must have been covered, and must still be coverable
LICENCE_EXPIRY_WARNING_DAYS = 30  # a licence in force closing this soon turns the point amber

# (2) Origin verified by the OEM
VERIFIED_SHARE_GREEN_PCT = 99.0
VERIFIED_SHARE_AMBER_PCT = 90.0

# (3) BMS data retention
MIN_RETENTION_YEARS = 8
MIN_RETENTION_DAYS = (
    MIN_RETENTION_YEARS * 365
)  # a conservative floor: 8 calendar years are 2,921 days or more

# (4) Encryption of stored telemetry
KEY_ROTATION_MAX_DAYS = 365  # a key-encryption key protecting data older than this should have been rotated
ROTATION_JOB = "passport.rotate_keys"
RETENTION_JOB = "passport.enforce_retention"

# (5) Exports
EXPORT_WINDOW_DAYS = 30
APPROVAL_EXPIRY_WARNING_DAYS = 30

# How many named findings and evidence links a point lists at most (the figures count them all).
MAX_FINDINGS = 10
MAX_EXAMPLES = 5
