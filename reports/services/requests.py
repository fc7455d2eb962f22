"""Asking for a report and cancelling one.

A request is checked whole before anything is written: the format and options, the scope against what
the requester may see, the size limit, and the cross-border gate for each jurisdiction whose data the
report would carry. Only then is the report row created and its build queued, after the commit.
The gate runs outside the transaction that creates the report, so the gate's record of a refusal
survives the refusal.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, NotFound, NotPermitted
from crossborder import gate
from reports import selectors, tasks
from reports.errors import ReportEmpty, ReportTooLarge
from reports.formats.registry import FormatSpec, get_format
from reports.models import Report
from reports.selectors import ResolvedScope, ScopeRequest

DEFAULT_PURPOSE = "Custody report"


def max_subjects() -> int:
    return int(getattr(settings, "REPORT_MAX_SUBJECTS", 10_000))


def _organisation_of(user: Any) -> Any:
    organisation = getattr(user, "organisation", None) if user is not None else None
    if organisation is None or not user.is_active:
        raise NotPermitted(_("Reports are requested by members of an organisation."), code="NOT_A_MEMBER")
    return organisation


def _format(name: str, anonymised: bool) -> FormatSpec:
    spec = get_format(name)
    if spec is None:
        raise InvalidInput(
            _("Unknown report format %(format)s.") % {"format": name}, code="UNKNOWN_FORMAT", field="format"
        )
    if not spec.is_available():
        raise InvalidInput(
            _("The %(format)s format is not available on this server.") % {"format": name},
            code="FORMAT_UNAVAILABLE",
            field="format",
        )
    if anonymised and not spec.anonymisable:
        raise InvalidInput(
            _("A %(format)s report cannot be anonymised: its hashes cover the battery codes and exact times.")
            % {"format": name},
            code="NOT_ANONYMISABLE",
            field="anonymised",
        )
    return spec


def _language(language: str) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    if language not in codes:
        raise InvalidInput(
            _("Unknown language %(language)s; choose one of %(choices)s.")
            % {"language": language, "choices": ", ".join(codes)},
            code="UNKNOWN_LANGUAGE",
            field="language",
        )
    return language


def _check_size(count: int, *, field: str | None = None) -> None:
    limit = max_subjects()
    if count > limit:
        raise ReportTooLarge(
            _(
                "The scope holds %(count)d batteries and lots; a report holds at most %(limit)d. "
                "Narrow the scope (fewer codes, a facility, a date range) or split it."
            )
            % {"count": count, "limit": limit},
            field=field,
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _scope_record(request: ScopeRequest, resolved: ResolvedScope) -> dict[str, Any]:
    """The scope as the report row and its manifest keep it."""
    return {
        "battery_codes": list(dict.fromkeys(code.strip() for code in request.battery_codes if code.strip())),
        "lot_codes": list(dict.fromkeys(code.strip().upper() for code in request.lot_codes if code.strip())),
        "facility": (
            {"id": resolved.facility.pk, "name": resolved.facility.name} if resolved.facility else None
        ),
        "organisation": (
            {"id": resolved.organisation.pk, "name": resolved.organisation.name}
            if resolved.organisation
            else None
        ),
        "date_from": _iso(request.date_from),
        "date_to": _iso(request.date_to),
        "batteries": len(resolved.battery_ids),
        "lots": len(resolved.lot_ids),
        "excluded": resolved.excluded,
    }


def _authorise(
    *, user: Any, organisation: Any, spec: FormatSpec, resolved: ResolvedScope, subject: str, purpose: str
) -> tuple[list[str], list[str]]:
    """Ask the cross-border gate about the data the report would carry; a refusal raises.

    Raw BMS payloads (a bundle for an authority) are asked about per data holder, the custodian, whose
    approval must cover them; everything else once per jurisdiction of the scope. Returns the data
    classes and the jurisdictions.
    """
    holders = (
        selectors.payload_holders(user=user, battery_ids=resolved.battery_ids)
        if spec.payloads_for_authority
        else []
    )
    classes = spec.classes_for(includes_payloads=bool(holders))
    jurisdictions = selectors.jurisdictions_of_scope(
        battery_ids=resolved.battery_ids, lot_ids=resolved.lot_ids
    )
    asks = [(holder.country, holder) for holder in holders]
    asked = {country for country, _holder in asks}
    asks += [(country, None) for country in jurisdictions if country not in asked]
    for country, holder in asks:
        gate.authorise(
            user=user,
            recipient=organisation,
            data_classes=classes,
            data_jurisdiction=country,
            channel="report",
            subject=subject,
            purpose=purpose,
            holder=holder,
        )
    return classes, jurisdictions


def request_report(
    *,
    user: Any,
    format: str,
    battery_codes: Sequence[str] = (),
    lot_codes: Sequence[str] = (),
    facility: int | None = None,
    organisation: int | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    anonymised: bool = False,
    language: str = "en",
    title: str = "",
    purpose: str = "",
) -> Report:
    """Queue a report over a scope the requester may see; refused whole (nothing written) otherwise."""
    requester_organisation = _organisation_of(user)
    spec = _format(format, anonymised)
    language = _language(language)
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise InvalidInput(
            _("The end of the date range must be after its start."), code="BAD_DATE_RANGE", field="date_to"
        )
    request = ScopeRequest(
        battery_codes=list(battery_codes),
        lot_codes=list(lot_codes),
        facility_id=facility,
        organisation_id=organisation,
        date_from=date_from,
        date_to=date_to,
    )
    if request.is_empty:
        raise ReportEmpty(
            _("Name at least one battery, material lot, facility or organisation."), field="battery_codes"
        )
    # Refuse an oversized list before reading it; the resolved scope is checked again below.
    _check_size(len(request.battery_codes) + len(request.lot_codes), field="battery_codes")
    resolved = selectors.resolve_scope(user=user, request=request)
    if not resolved.subject_count:
        raise ReportEmpty(
            _("The scope holds no battery or material lot that you may see.")
            if not resolved.excluded
            else _("The scope holds %(count)d batteries or lots, none of which you may see.")
            % {"count": resolved.excluded}
        )
    _check_size(resolved.subject_count)
    purpose = purpose.strip()[:300]
    subject = (
        f"{spec.name} report of {len(resolved.battery_ids)} batteries and {len(resolved.lot_ids)} lots "
        f"for {requester_organisation.name}"
    )
    classes, jurisdictions = _authorise(
        user=user,
        organisation=requester_organisation,
        spec=spec,
        resolved=resolved,
        subject=subject,
        purpose=purpose or DEFAULT_PURPOSE,
    )
    with transaction.atomic():
        report = Report.objects.create(
            organisation=requester_organisation,
            requested_by=user,
            title=title.strip()[:200],
            format=spec.name,
            scope={
                **_scope_record(request, resolved),
                "data_classes": classes,
                "jurisdictions": jurisdictions,
            },
            subjects={"battery_ids": resolved.battery_ids, "lot_ids": resolved.lot_ids},
            subject_count=resolved.subject_count,
            total_count=resolved.subject_count,
            anonymised=anonymised,
            language=language,
            purpose=purpose,
            storage_key=secrets.token_hex(16),
        )
        tasks.build_report.delay_on_commit(report_id=report.pk)
    return report


def own_report(report: Report, user: Any) -> Report:
    """The report, if it belongs to the user's organisation; otherwise it does not exist for them."""
    organisation = _organisation_of(user)
    if report.organisation_id != organisation.pk:
        raise NotFound(_("No report %(id)s that you may see.") % {"id": report.pk}, code="REPORT_NOT_FOUND")
    return report


def cancel_report(*, report: Report, user: Any) -> Report:
    """Stop a report: a waiting one at once, a running one at its next progress step (its file discarded)."""
    own_report(report, user)
    now = timezone.now()
    stopped = Report.objects.filter(pk=report.pk, status=Report.Status.PENDING).update(
        status=Report.Status.CANCELLED, cancel_requested=True, finished_at=now
    )
    if not stopped:
        Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(cancel_requested=True)
    report.refresh_from_db()
    if report.status not in {Report.Status.PENDING, Report.Status.RUNNING, Report.Status.CANCELLED}:
        raise Conflict(
            _("The report is already %(status)s and can no longer be cancelled.")
            % {"status": report.get_status_display()},
            code="REPORT_FINISHED",
        )
    return report
