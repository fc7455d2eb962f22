"""Report pages: the builder, the list, a report's progress (polled by htmx), cancel and downloads."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError
from reports import selectors, services
from reports.forms import ReportForm
from reports.models import Report


def _report(request: HttpRequest, pk: int) -> Report:
    report = selectors.reports_for(request.user).filter(pk=pk).first()
    if report is None:
        raise Http404
    return report


@login_required
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    """Your organisation's reports, newest first."""
    reports = selectors.reports_for(request.user).defer("scope", "manifest")[:100]
    return render(request, "reports/list.html", {"reports": reports})


@login_required
@require_http_methods(["GET", "POST"])
def report_create(request: HttpRequest) -> HttpResponse:
    """The report builder; the report is built in the background."""
    form = ReportForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.request_report(user=request.user, **form.request_arguments())
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error.message))
        else:
            return redirect("reports:detail", pk=report.pk)
    return render(request, "reports/form.html", {"form": form})


@login_required
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A report's progress, files and manifest; htmx polls the progress block until it is finished."""
    report = _report(request, pk)
    template = "reports/_progress.html" if request.htmx else "reports/detail.html"
    manifest_text = json.dumps(report.manifest, indent=2, ensure_ascii=False) if report.manifest else ""
    return render(request, template, {"report": report, "manifest_text": manifest_text})


@login_required
@require_POST
def report_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.cancel_report(report=_report(request, pk), user=request.user)
    except DomainError as error:
        messages.error(request, str(error.message))
    return redirect("reports:detail", pk=pk)


@login_required
@require_GET
def report_download(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """A file of the report, logged; an expired or unfinished report says why instead."""
    report = _report(request, pk)
    try:
        file, handle = services.open_download(
            report=report, user=request.user, name=name, channel="web", purpose=request.GET.get("purpose", "")
        )
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("reports:detail", pk=pk)
    return FileResponse(handle, as_attachment=True, filename=file.name, content_type=file.content_type)
