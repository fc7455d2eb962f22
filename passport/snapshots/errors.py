"""Why a snapshot, a certification or a retention action is refused: one stable code per reason.

Schema refusals (`SCHEMA_*`, `SIGNATURE_MALFORMED`, the strict-JSON codes) are `SnapshotRejected` from
`passport.snapshots.schema` (400). The checks that need the database raise the classes below; the
ingest service reports each refused item with its code, message, field and HTTP status.

=============================  ======  ==================================================================
code                           status  meaning
=============================  ======  ==================================================================
SNAPSHOT_BODY_TOO_LARGE        413     the request (or one envelope) is over the byte limit, refused
                                       before parsing
SNAPSHOT_BATCH_TOO_LONG        413     more than 1,000 envelopes in one request
SNAPSHOT_BATCH_EMPTY           400     an empty list
NO_ORGANISATION                403     the uploader belongs to no organisation
KEY_UNKNOWN                    422     no registered key has `signature.key_id`
KEY_PURPOSE                    422     the key is registered for another purpose than BMS snapshots
SIGNATURE_ALG_MISMATCH         422     `signature.alg` is not the algorithm of the registered key
SIGNATURE_INVALID              422     the signature does not verify over the RFC 8785 bytes of payload
KEY_NOT_YET_VALID              422     `captured_at` is before the key's validity window
KEY_EXPIRED                    422     `captured_at` is at or after the end of the key's window
KEY_REVOKED                    422     the key was revoked at or before `captured_at`
KEY_NOT_OWNED                  403     the signing key belongs to another organisation than the uploader
BATTERY_UNKNOWN                422     no battery is registered under `payload.battery_code`
NOT_ALLOWED_TO_REPORT          403     the uploader is not the OEM, the custodian or a live grantee
CAPTURED_IN_FUTURE             422     `captured_at` is later than now plus the allowed clock skew
CAPTURED_BEFORE_PRODUCTION     422     `captured_at` is before the battery's production date
REPLAY                         409     a snapshot with the same payload hash is already stored
REPLAY_SEQUENCE                409     the device already sent a snapshot with this sequence number
=============================  ======  ==================================================================
"""

from __future__ import annotations

from core.errors import Conflict, DomainError, InvalidInput, NotPermitted

__all__ = [
    "INGEST_REFUSAL_CODES",
    "BodyTooLarge",
    "CertificationRefused",
    "HoldError",
    "SnapshotConflict",
    "SnapshotForbidden",
    "SnapshotRefused",
    "TelemetryRefused",
]


class SnapshotRefused(DomainError):
    """A well-formed snapshot that a rule refuses (key, signature, battery, time)."""

    status_code = 422
    default_code = "SNAPSHOT_REFUSED"


class SnapshotForbidden(NotPermitted):
    """The uploader may not report this snapshot."""

    default_code = "NOT_ALLOWED_TO_REPORT"


class SnapshotConflict(Conflict):
    """A snapshot already stored: the same payload, or the same device sequence number."""

    default_code = "REPLAY"


class BodyTooLarge(DomainError):
    """A request refused by its size before it is parsed."""

    status_code = 413
    default_code = "SNAPSHOT_BODY_TOO_LARGE"


class CertificationRefused(DomainError):
    """A certification the lab may not give (not designated, wrong key, unknown subject)."""

    status_code = 422
    default_code = "CERTIFICATION_REFUSED"


class HoldError(DomainError):
    """A legal hold that cannot be placed or lifted."""

    status_code = 422
    default_code = "HOLD_REFUSED"


class TelemetryRefused(NotPermitted):
    """A read of raw telemetry refused (and logged)."""

    default_code = "TELEMETRY_NOT_PERMITTED"


class BatchInvalid(InvalidInput):
    """A request body that is not an envelope nor a list of envelopes."""

    default_code = "SNAPSHOT_BATCH_INVALID"


INGEST_REFUSAL_CODES = (
    "SNAPSHOT_BODY_TOO_LARGE",
    "SNAPSHOT_BATCH_TOO_LONG",
    "SNAPSHOT_BATCH_EMPTY",
    "NO_ORGANISATION",
    "KEY_UNKNOWN",
    "KEY_PURPOSE",
    "SIGNATURE_ALG_MISMATCH",
    "SIGNATURE_INVALID",
    "KEY_NOT_YET_VALID",
    "KEY_EXPIRED",
    "KEY_REVOKED",
    "KEY_NOT_OWNED",
    "BATTERY_UNKNOWN",
    "NOT_ALLOWED_TO_REPORT",
    "CAPTURED_IN_FUTURE",
    "CAPTURED_BEFORE_PRODUCTION",
    "REPLAY",
    "REPLAY_SEQUENCE",
)
