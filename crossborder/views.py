"""Cross-border pages: transfer approvals (list, record, revoke) and the export log."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import DomainError
from crossborder import forms, selectors, services
from crossborder.models import TransferApproval

PAGE_SIZE = 50


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _day_end(day: Any) -> datetime:
    return datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())


@login_required
@require_http_methods(["GET", "POST"])
def approvals(request: HttpRequest) -> HttpResponse:
    """The approvals the user may see; regulators and holders' admins record new ones here."""
    if not request.user.has_perm("crossborder.view_approvals"):
        raise Http404
    can_record = (
        request.user.has_perm("crossborder.record_approval") and services.holders_for(request.user).exists()
    )
    form = forms.ApprovalForm(request.POST or None, user=request.user) if can_record else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            data = form.cleaned_data
            try:
                approval = services.record_approval(
                    by=request.user,
                    holder=data["holder"],
                    recipient=data["recipient"],
                    destination_country=data["destination_country"] or data["recipient"].country,
                    data_classes=data["data_classes"],
                    basis=data["basis"],
                    reference=data["reference"],
                    valid_from=_day_start(data["valid_from"]),
                    valid_until=_day_end(data["valid_until"]),
                    notes=data["notes"],
                )
            except DomainError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, str(error.message))
            else:
                messages.success(
                    request, _("Approval %(reference)s recorded.") % {"reference": approval.reference}
                )
                return redirect("crossborder:approval", pk=approval.pk)
    rows = selectors.approvals_visible_to(request.user)
    status = request.GET.get("status", "")
    if status in TransferApproval.Status.values:
        rows = selectors.with_status(rows, status)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    return render(
        request,
        "crossborder/approvals.html",
        {
            "approvals": page,
            "page": page,
            "query": f"status={status}" if status else "",
            "form": form,
            "status": status,
            "statuses": TransferApproval.Status.choices,
            "expiring_before": now + selectors.EXPIRY_WARNING,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One approval, the exports that relied on it, and (for those who may) its revocation."""
    approval = get_object_or_404(selectors.approvals_visible_to(request.user), pk=pk)
    may_revoke = (
        services.may_record_for(request.user, approval.holder) and approval.revocation_or_none() is None
    )
    form = forms.RevokeForm(request.POST or None) if may_revoke else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            try:
                services.revoke_approval(
                    approval=approval, by=request.user, reason=form.cleaned_data["reason"]
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(
                    request, _("Approval %(reference)s revoked.") % {"reference": approval.reference}
                )
                return redirect("crossborder:approval", pk=approval.pk)
    exports = selectors.export_log_visible_to(request.user).filter(approval=approval)[:20]
    return render(
        request,
        "crossborder/approval_detail.html",
        {"approval": approval, "form": form, "exports": exports, "status": approval.status},
    )


@login_required
@require_GET
def export_log(request: HttpRequest) -> HttpResponse:
    """Every gate decision and release scan the user may see, filterable, newest first."""
    if not request.user.has_perm("crossborder.view_export_log"):
        raise Http404
    form = forms.ExportLogFilterForm(request.GET or None)
    entries = selectors.export_log_visible_to(request.user)
    if form.is_valid():
        data = form.cleaned_data
        if data["outcome"]:
            entries = entries.filter(outcome=data["outcome"])
        if data["channel"]:
            entries = entries.filter(channel=data["channel"])
        if data["recipient"]:
            entries = entries.filter(recipient=data["recipient"])
        if data["country"]:
            entries = entries.filter(destination_country__iexact=data["country"].strip())
        if data["since"]:
            entries = entries.filter(at__gte=_day_start(data["since"]))
        if data["until"]:
            entries = entries.filter(at__lt=_day_start(data["until"] + timedelta(days=1)))
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "crossborder/export_log.html", {"form": form, "page": page, "query": query.urlencode()}
    )
