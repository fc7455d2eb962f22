"""Printable A4 sheets of QR labels, rendered by a worker (PDFs never render inside a request)."""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import InvalidInput, NotPermitted
from passport import codes, qr, tasks
from passport.models import Battery, LabelSheet

MAX_LABELS = 240  # ten A4 pages of 24 labels


@transaction.atomic
def request_label_sheet(*, codes_wanted: list[str], by: User) -> LabelSheet:
    """Queue a label sheet for batteries the user may see (its OEM's, or those in its custody)."""
    if not by.has_perm("passport.print_labels") or by.organisation is None:
        raise NotPermitted(_("Labels are printed by the operators of organisations that hold batteries."))
    wanted = list(dict.fromkeys(codes.normalise(code) for code in codes_wanted if code.strip()))
    if not wanted:
        raise InvalidInput(_("Choose at least one battery."), code="EMPTY_SELECTION", field="codes")
    if len(wanted) > MAX_LABELS:
        raise InvalidInput(
            _("At most %(limit)d labels fit one sheet request.") % {"limit": MAX_LABELS},
            code="TOO_MANY_LABELS",
            field="codes",
        )
    visible = set(Battery.objects.visible_to(by).filter(code__in=wanted).values_list("code", flat=True))
    missing = [code for code in wanted if code not in visible]
    if missing:
        raise InvalidInput(
            _("These codes are not registered or not yours to print: %(codes)s")
            % {"codes": ", ".join(missing[:10])},
            code="UNKNOWN_CODES",
            field="codes",
        )
    sheet = LabelSheet.objects.create(organisation=by.organisation, requested_by=by, codes=wanted)
    tasks.render_label_sheet.delay_on_commit(sheet_id=sheet.pk)
    return sheet


def label_document(codes_to_print: list[str]) -> Any:
    """The laid-out WeasyPrint document of an A4 sheet (3 x 8 labels a page) for the given codes."""
    from weasyprint import HTML  # heavy import, only where PDFs are made

    labels = [
        {
            "code": code,
            "caption": qr.caption(code),
            "url": qr.passport_url(code),
            "svg": "data:image/svg+xml;base64,"
            + base64.b64encode(qr.render_svg(qr.passport_url(code), None)).decode(),
        }
        for code in codes_to_print
    ]
    html = render_to_string(
        "passport/labels_pdf.html", {"labels": labels, "base_url": settings.PUBLIC_BASE_URL}
    )
    return HTML(string=html).render()


def label_pdf(codes_to_print: list[str]) -> bytes:
    """The PDF bytes of a label sheet."""
    return label_document(codes_to_print).write_pdf()


def render_label_sheet(*, sheet_id: int) -> LabelSheet | None:
    """Render a queued label sheet to a PDF file; a second run does nothing."""
    claimed = LabelSheet.objects.filter(pk=sheet_id, status=LabelSheet.Status.PENDING).update(
        status=LabelSheet.Status.RUNNING, started_at=timezone.now(), percent=10
    )
    sheet = LabelSheet.objects.filter(pk=sheet_id).first()
    if claimed != 1 or sheet is None:
        return sheet
    try:
        pdf = label_pdf(sheet.codes)
    except Exception as exc:
        sheet.status = LabelSheet.Status.FAILED
        sheet.error = str(exc)[:2000]
        sheet.finished_at = timezone.now()
        sheet.save(update_fields=["status", "error", "finished_at"])
        raise
    sheet.file.save(f"labels-{sheet.pk}.pdf", ContentFile(pdf), save=False)
    sheet.status = LabelSheet.Status.SUCCEEDED
    sheet.percent = 100
    sheet.finished_at = timezone.now()
    sheet.save(update_fields=["file", "status", "percent", "finished_at"])
    return sheet
