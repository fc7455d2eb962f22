"""The one export gate: every path that can send telemetry or personal data abroad asks `authorise`.

Rules (DESIGN.md, "Data leaving the jurisdiction"):

* Only the classes `telemetry` and `personal` need an approval; `public` and `restricted` data, and any
  data going to a recipient in the data's own jurisdiction, pass with the outcome `not_required`.
* Otherwise a live `TransferApproval` must match: its holder is the given `holder` when the caller
  names the data holder, else any organisation of the data's jurisdiction; its recipient is the
  recipient; its destination country is the recipient's country; its classes include every sensitive
  class asked for; `valid_from <= at <= valid_until`; and it was not revoked by `at`.
* Every decision is written to the export log. A refusal raises `CrossBorderRefused` with a code and a
  message that says exactly what is missing, and alerts the holder's administrators (when the holder
  is named) and the platform administrators.

Transactions: the gate's log row must survive whatever the caller does next, so `authorise` (and
`log_export` for refusals and blocks) must be called outside any `transaction.atomic` block, where the
row is committed at once. Calling it inside one raises `GateMisuse` before anything is decided: a
refusal written inside the caller's transaction would vanish with its rollback. (A test's own
transaction, as pytest-django's `db` fixture opens, does not count.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Organisation
from accounts.notifications import notify_organisation, notify_platform_admins
from core.errors import InvalidInput
from crossborder.countries import normalise_country
from crossborder.errors import CrossBorderRefused, GateMisuse
from crossborder.models import SENSITIVE_CLASSES, DataClass, ExportLogEntry, TransferApproval

NOT_APPROVED = "CROSS_BORDER_NOT_APPROVED"
APPROVAL_EXPIRED = "CROSS_BORDER_APPROVAL_EXPIRED"
APPROVAL_MISMATCH = "CROSS_BORDER_APPROVAL_MISMATCH"

SUBJECT_MAX_LENGTH = 300
PURPOSE_MAX_LENGTH = 1000
SCAN_SUMMARY_KEYS = frozenset({"bytes", "hits", "kinds", "locations", "truncated", "error"})
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@dataclass(frozen=True)
class Decision:
    """What the gate would answer, before anything is logged."""

    outcome: str  # ExportLogEntry.Outcome: allowed, not_required or refused
    approval: TransferApproval | None = None
    code: str = ""
    message: str = ""

    @property
    def refused(self) -> bool:
        return self.outcome == ExportLogEntry.Outcome.REFUSED


# ---------------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------------
def _classes(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    classes = sorted({str(value).strip().lower() for value in values})
    if not classes or any(value not in DataClass.values for value in classes):
        raise InvalidInput(
            _("Data classes must be drawn from: %(choices)s.") % {"choices": ", ".join(DataClass.values)},
            code="DATA_CLASS_INVALID",
            field="data_classes",
        )
    return classes


def _jurisdiction(value: str) -> str:
    country = normalise_country(value)
    if country is None:
        raise InvalidInput(
            _("The data's jurisdiction must be an ISO 3166-1 alpha-2 country code, not %(value)s.")
            % {"value": value or "''"},
            code="DATA_JURISDICTION_INVALID",
            field="data_jurisdiction",
        )
    return country


def _channel(value: str) -> str:
    if not _CHANNEL.match(value or ""):
        raise InvalidInput(
            _("The channel must be a lower-case slug such as api_read or report."),
            code="EXPORT_CHANNEL_INVALID",
            field="channel",
        )
    return value


def require_outside_transactions() -> None:
    """Raise GateMisuse inside an atomic block (other than a test's own): the log row must commit."""
    connection = transaction.get_connection()
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise GateMisuse(
            "crossborder.gate must be called outside transaction.atomic(): its log row has to be committed "
            "even when the caller's work is rolled back."
        )


# ---------------------------------------------------------------------------------------------------
# The decision
# ---------------------------------------------------------------------------------------------------
def _describe(approval: TransferApproval) -> str:
    return _("%(reference)s (%(classes)s to %(country)s, data of %(holder)s)") % {
        "reference": approval.reference,
        "classes": ", ".join(approval.data_classes),
        "country": approval.destination_country,
        "holder": approval.holder.name,
    }


def _why_not_live(approval: TransferApproval, moment: datetime) -> str:
    revocation = approval.revocation_or_none()
    if revocation is not None and revocation.at <= moment:
        return _("approval %(reference)s was revoked on %(date)s (%(reason)s)") % {
            "reference": approval.reference,
            "date": f"{revocation.at:%Y-%m-%d}",
            "reason": revocation.reason,
        }
    if moment < approval.valid_from:
        return _("approval %(reference)s is valid only from %(date)s") % {
            "reference": approval.reference,
            "date": f"{approval.valid_from:%Y-%m-%d %H:%M} UTC",
        }
    return _("approval %(reference)s expired on %(date)s") % {
        "reference": approval.reference,
        "date": f"{approval.valid_until:%Y-%m-%d %H:%M} UTC",
    }


def _gaps(approval: TransferApproval, *, classes: set[str], country: str) -> list[str]:
    gaps: list[str] = []
    missing = sorted(classes - set(approval.data_classes))
    if missing:
        gaps.append(_("it does not cover %(classes)s data") % {"classes": ", ".join(missing)})
    if approval.destination_country != country:
        gaps.append(
            _("its destination is %(theirs)s, not %(ours)s")
            % {"theirs": approval.destination_country, "ours": country}
        )
    return gaps


def decide(
    *,
    recipient: Organisation,
    data_classes: Iterable[str],
    data_jurisdiction: str,
    at: datetime | None = None,
    holder: Organisation | None = None,
) -> Decision:
    """What the gate answers for this transfer at `at` (default now); reads only, logs nothing."""
    classes = _classes(data_classes)
    jurisdiction = _jurisdiction(data_jurisdiction)
    moment = at or timezone.now()
    sensitive = set(classes) & SENSITIVE_CLASSES
    if not sensitive or recipient.country == jurisdiction:
        return Decision(outcome=ExportLogEntry.Outcome.NOT_REQUIRED)
    # The data holder's own approvals when it is named, else any holder's of the jurisdiction.
    holders = {"holder": holder} if holder is not None else {"holder__country": jurisdiction}
    candidates = list(
        TransferApproval.objects.filter(recipient=recipient, **holders)
        .select_related("holder", "revocation")
        .order_by("-valid_until", "-id")
    )
    subject = {
        "classes": ", ".join(sorted(sensitive)),
        "jurisdiction": jurisdiction,
        "recipient": recipient.name,
        "country": recipient.country,
        "holder": (_(" held by %(holder)s") % {"holder": holder.name}) if holder is not None else "",
    }
    if not candidates:
        return Decision(
            outcome=ExportLogEntry.Outcome.REFUSED,
            code=NOT_APPROVED,
            message=_(
                "No transfer approval is on record for sending %(classes)s data%(holder)s from "
                "%(jurisdiction)s to %(recipient)s (%(country)s). A regulator of %(jurisdiction)s or an "
                "administrator of the data holder must record one (approval number, standard contract "
                "filing, certification or exemption) before this data can be sent."
            )
            % subject,
        )
    in_scope = [
        approval
        for approval in candidates
        if not _gaps(approval, classes=sensitive, country=recipient.country)
    ]
    for approval in in_scope:
        if approval.status_at(moment) == TransferApproval.Status.IN_FORCE:
            return Decision(outcome=ExportLogEntry.Outcome.ALLOWED, approval=approval)
    if in_scope:
        return Decision(
            outcome=ExportLogEntry.Outcome.REFUSED,
            code=APPROVAL_EXPIRED,
            message=_(
                "The approval for sending %(classes)s data%(holder)s from %(jurisdiction)s to "
                "%(recipient)s (%(country)s) is not in force: %(why)s. Record a new approval first."
            )
            % {**subject, "why": "; ".join(_why_not_live(approval, moment) for approval in in_scope)},
        )
    return Decision(
        outcome=ExportLogEntry.Outcome.REFUSED,
        code=APPROVAL_MISMATCH,
        message=_(
            "No approval on record covers sending %(classes)s data%(holder)s from %(jurisdiction)s to "
            "%(recipient)s (%(country)s). %(details)s."
        )
        % {
            **subject,
            "details": "; ".join(
                _("Approval %(approval)s: %(gaps)s")
                % {
                    "approval": _describe(approval),
                    "gaps": ", ".join(_gaps(approval, classes=sensitive, country=recipient.country)),
                }
                for approval in candidates[:5]
            ),
        },
    )


# ---------------------------------------------------------------------------------------------------
# Logging and authorising
# ---------------------------------------------------------------------------------------------------
def _scan_summary(scan: Mapping[str, Any] | None) -> dict[str, Any]:
    if scan is None:
        return {}
    unknown = set(scan) - SCAN_SUMMARY_KEYS
    if unknown:
        # The log keeps counts and locations only; anything else could carry an identifier.
        raise InvalidInput(
            _("A scan summary holds only %(keys)s.") % {"keys": ", ".join(sorted(SCAN_SUMMARY_KEYS))},
            code="SCAN_SUMMARY_INVALID",
            field="scan",
        )
    return dict(scan)


def _write(
    *,
    user: Any,
    recipient: Organisation | None,
    holder: Organisation | None,
    classes: list[str],
    jurisdiction: str,
    channel: str,
    subject: str,
    purpose: str,
    outcome: str,
    approval: TransferApproval | None,
    code: str,
    message: str,
    scan: Mapping[str, Any] | None,
    at: datetime | None,
) -> ExportLogEntry:
    organisation = getattr(user, "organisation", None) if getattr(user, "is_authenticated", False) else None
    fields = {
        "at": at or timezone.now(),
        "user": user if getattr(user, "pk", None) else None,
        "organisation": organisation,
        "holder": holder,
        "recipient": recipient,
        "destination_country": recipient.country if recipient is not None else "",
        "data_jurisdiction": jurisdiction,
        "data_classes": classes,
        "channel": _channel(channel),
        "subject": (subject or "-").strip()[:SUBJECT_MAX_LENGTH],
        "purpose": (purpose or "").strip()[:PURPOSE_MAX_LENGTH],
        "outcome": outcome,
        "approval": approval,
        "code": code,
        "message": message,
        "scanned": scan is not None,
        "scan": _scan_summary(scan),
    }
    if outcome in (ExportLogEntry.Outcome.REFUSED, ExportLogEntry.Outcome.BLOCKED):
        require_outside_transactions()
        with transaction.atomic(durable=True):
            return ExportLogEntry.objects.create(**fields)
    return ExportLogEntry.objects.create(**fields)


def export_log_link(**query: str) -> str:
    """The export log page, filtered (for notifications)."""
    url = reverse("crossborder:export-log")
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def alert_holder_and_platform(
    *, entry: ExportLogEntry, subject: str, body: str, dedup_key: str, also: Iterable[Organisation] = ()
) -> None:
    """Tell the holder's (and `also`'s) administrators and the platform administrators about a refusal or
    a block, in a transaction of its own once the log row is committed."""
    link = export_log_link(outcome=entry.outcome)
    organisations = {org.pk: org for org in [entry.holder, *also] if org is not None}
    with transaction.atomic():
        for organisation in organisations.values():
            notify_organisation(
                organisation=organisation,
                subject=subject,
                body=body,
                link=link,
                dedup_key=dedup_key,
                level=Notification.Level.ALERT,
            )
        notify_platform_admins(subject=subject, body=body, dedup_key=dedup_key)


def log_export(
    *,
    user: Any,
    recipient: Organisation | None,
    data_classes: Iterable[str],
    data_jurisdiction: str,
    channel: str,
    subject: str,
    purpose: str = "",
    outcome: str = ExportLogEntry.Outcome.NOT_REQUIRED,
    approval: TransferApproval | None = None,
    scan: Mapping[str, Any] | None = None,
    holder: Organisation | None = None,
    code: str = "",
    message: str = "",
    at: datetime | None = None,
) -> ExportLogEntry:
    """Record an export the caller has already decided on (no approval check, no alert).

    Rows of allowed or not_required exports join the caller's transaction; refused or blocked rows are
    committed on their own and, like `authorise`, need the caller to be outside any atomic block.
    """
    if outcome not in ExportLogEntry.Outcome.values:
        raise InvalidInput(
            _("The outcome must be one of: %(choices)s.")
            % {"choices": ", ".join(ExportLogEntry.Outcome.values)},
            code="EXPORT_OUTCOME_INVALID",
            field="outcome",
        )
    if outcome == ExportLogEntry.Outcome.ALLOWED and approval is None:
        raise InvalidInput(
            _("An allowed cross-border export names the approval it relied on."),
            code="EXPORT_APPROVAL_REQUIRED",
            field="approval",
        )
    return _write(
        user=user,
        recipient=recipient,
        holder=holder,
        classes=_classes(data_classes),
        jurisdiction=_jurisdiction(data_jurisdiction),
        channel=channel,
        subject=subject,
        purpose=purpose,
        outcome=outcome,
        approval=approval,
        code=code,
        message=message,
        scan=scan,
        at=at,
    )


def authorise(
    *,
    user: Any,
    recipient: Organisation,
    data_classes: Iterable[str],
    data_jurisdiction: str,
    channel: str,
    subject: str,
    purpose: str = "",
    at: datetime | None = None,
    holder: Organisation | None = None,
) -> ExportLogEntry:
    """Decide whether this data may go to `recipient`, log the decision, and raise when refused.

    Returns the log entry (outcome `allowed` with its approval, or `not_required`); raises
    `CrossBorderRefused` (403) after committing the refusal and alerting. Pass `holder` (the data
    holder, e.g. the battery's custodian) whenever it is known: the approval must then be that
    holder's, and its administrators are alerted on refusal. Must be called outside atomic blocks.
    """
    require_outside_transactions()
    classes = _classes(data_classes)
    jurisdiction = _jurisdiction(data_jurisdiction)
    _channel(channel)
    moment = at or timezone.now()
    decision = decide(
        recipient=recipient, data_classes=classes, data_jurisdiction=jurisdiction, at=moment, holder=holder
    )
    entry = _write(
        user=user,
        recipient=recipient,
        holder=holder if holder is not None else (decision.approval.holder if decision.approval else None),
        classes=classes,
        jurisdiction=jurisdiction,
        channel=channel,
        subject=subject,
        purpose=purpose,
        outcome=decision.outcome,
        approval=decision.approval,
        code=decision.code,
        message=decision.message,
        scan=None,
        at=moment,
    )
    if not decision.refused:
        return entry
    alert_holder_and_platform(
        entry=entry,
        subject=_("Cross-border transfer refused: %(classes)s data to %(recipient)s (%(country)s)")
        % {"classes": ", ".join(classes), "recipient": recipient.name, "country": recipient.country},
        body=decision.message,
        # One alert per recipient, holder (or jurisdiction), reason and day; the log keeps every attempt.
        dedup_key=(
            f"crossborder-refused:{recipient.pk}:{holder.pk if holder else jurisdiction}:"
            f"{decision.code}:{moment:%Y-%m-%d}"
        ),
    )
    raise CrossBorderRefused(decision.message, code=decision.code, entry=entry)
