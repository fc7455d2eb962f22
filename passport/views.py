"""Passport pages: the public scan page, the buyer's scanner, and the registry pages for members."""

from __future__ import annotations

from datetime import datetime, time
from urllib.parse import unquote

from csp.decorators import csp_update
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from accounts.models import Organisation
from core.errors import DomainError
from passport import codes, fastpath, qr, ratelimits, selectors, services
from passport.models import AccessGrant, Battery, LabelSheet, RegistrationImport


def _scan_rate(group: str, request: HttpRequest) -> str:
    return settings.PASSPORT_SCAN_RATE


# ---------------------------------------------------------------------------------------------------
# Public: the page a QR code opens
# ---------------------------------------------------------------------------------------------------
def _render_passport(request: HttpRequest, code: str) -> HttpResponse:
    if getattr(request, "limited", False):
        return render(request, "passport/rate_limited.html", status=429)
    try:
        parsed = codes.parse_code(code)
    except codes.CodeError as error:
        explanation = codes.explain_code(code)
        return render(
            request,
            "passport/bad_code.html",
            {"error": error, "explanation": explanation, "code": code},
            status=400,
        )
    canonical = qr.passport_path(parsed.code)
    if request.path != canonical:
        return redirect(canonical, permanent=True)
    battery = selectors.battery_for_passport(parsed.code)
    if battery is None:
        return render(request, "passport/not_registered.html", {"code": parsed.code}, status=404)
    passport = selectors.passport_for(battery=battery, user=request.user)
    response = render(
        request, "passport/passport.html", {"passport": passport, "battery": battery, "code": parsed.code}
    )
    if (
        not request.user.is_authenticated
        and request.path_info.startswith(fastpath.PREFIX)
        and not request.META.get("QUERY_STRING")
    ):
        # Anonymous readers all see the public tier: passport.fastpath keeps this rendering, with its
        # final headers, and serves it to the next anonymous readers without rendering again.
        setattr(response, fastpath.SHAREABLE, (parsed.code, get_language()))
    return _public_response(response)


def _public_response(response: HttpResponse) -> HttpResponse:
    # Readers must always revalidate: a verdict can change at the next custody event.
    response["Cache-Control"] = "private, no-cache"
    return response


@require_GET
@ratelimits.limit_scans
def passport_page(request: HttpRequest, code: str) -> HttpResponse:
    """The public passport at /p/{code}: verdict with reasons, identity, model data, custody summary."""
    return _render_passport(request, code)


@require_GET
@ratelimit(key="ip", rate=_scan_rate, block=False)
def digital_link_page(request: HttpRequest, gtin: str, serial: str) -> HttpResponse:
    """A GS1 Digital Link /01/{gtin}/21/{serial} resolves to the same passport page."""
    return _render_passport(request, codes.gs1_code(gtin, serial))


# ---------------------------------------------------------------------------------------------------
# Public: the buyer's scanner
# ---------------------------------------------------------------------------------------------------
@require_GET
@ratelimit(key="ip", rate=_scan_rate, block=False)
# qr-scanner decodes in a Web Worker it starts from a blob: URL.
@csp_update({"worker-src": ["'self'", "blob:"]})
def scan(request: HttpRequest) -> HttpResponse:
    """Scan a label with the camera, or type its code; a valid code opens the passport."""
    typed = request.GET.get("code", "")
    if not typed.strip():
        return render(request, "passport/scan.html", {"typed": ""})
    if getattr(request, "limited", False):
        return render(request, "passport/rate_limited.html", status=429)
    text = typed.strip()
    if "/p/" in text:  # a scanned or pasted passport address, ours or another deployment's
        text = unquote(text.rsplit("/p/", 1)[1].split("?", 1)[0].strip("/"))
    explanation = codes.explain_code(text)
    if explanation.parsed is None:
        return render(request, "passport/scan.html", {"typed": typed, "explanation": explanation}, status=400)
    return redirect(qr.passport_path(explanation.parsed.code))


# ---------------------------------------------------------------------------------------------------
# Members: batteries, bulk import, labels, access grants
# ---------------------------------------------------------------------------------------------------
@login_required
@require_GET
def battery_list(request: HttpRequest) -> HttpResponse:
    """The batteries the member's organisation may see, to select for labels."""
    batteries = (
        Battery.objects.visible_to(request.user)
        .select_related("oem", "battery_model", "current_custodian")
        .order_by("-registered_at", "code")
    )
    query = request.GET.get("q", "").strip()
    if query:
        batteries = batteries.filter(code__icontains=codes.normalise(query))
    status = request.GET.get("status", "")
    if status in Battery.Status.values:
        batteries = batteries.filter(status=status)
    page = Paginator(batteries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "passport/battery_list.html",
        {
            "page": page,
            "query": query,
            "status": status,
            "statuses": Battery.Status.choices,
            "can_register": request.user.has_perm("passport.import_batteries"),
            "can_print": request.user.has_perm("passport.print_labels"),
        },
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "UTF-8; columns code, model, and optionally production_date, parent_code, original_code."
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def import_create(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of batteries; the import runs in the background."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.start_registration_import(upload=form.cleaned_data["file"], by=request.user)
        except DomainError as error:
            form.add_error("file", str(error.message))
        else:
            return redirect("passport:import-detail", pk=job.pk)
    recent = RegistrationImport.objects.visible_to(request.user).order_by("-created_at")[:10]
    return render(request, "passport/import_form.html", {"form": form, "recent": recent})


@login_required
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress and, when done, the per-row error report; htmx polls the progress block."""
    job = get_object_or_404(RegistrationImport.objects.visible_to(request.user), pk=pk)
    template = "passport/_import_progress.html" if request.htmx else "passport/import_detail.html"
    return render(request, template, {"job": job})


@login_required
@require_POST
def label_create(request: HttpRequest) -> HttpResponse:
    """Queue a PDF label sheet for the selected batteries."""
    try:
        sheet = services.request_label_sheet(codes_wanted=request.POST.getlist("codes"), by=request.user)
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("passport:battery-list")
    return redirect("passport:label-detail", pk=sheet.pk)


@login_required
@require_GET
def label_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sheet = get_object_or_404(LabelSheet.objects.visible_to(request.user), pk=pk)
    template = "passport/_label_progress.html" if request.htmx else "passport/label_detail.html"
    return render(request, template, {"sheet": sheet})


@login_required
@require_GET
def label_download(request: HttpRequest, pk: int) -> FileResponse:
    sheet = get_object_or_404(LabelSheet.objects.visible_to(request.user), pk=pk)
    if sheet.status != LabelSheet.Status.SUCCEEDED or not sheet.file:
        raise Http404
    return FileResponse(sheet.file.open("rb"), as_attachment=True, filename=f"voltrace-labels-{sheet.pk}.pdf")


class GrantForm(forms.Form):
    grantee = forms.ModelChoiceField(
        label=gettext_lazy("Organisation"),
        queryset=Organisation.objects.exclude(kind__in=["auditor", "regulator"]),
    )
    valid_until = forms.DateField(
        label=gettext_lazy("Until (inclusive)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    purpose = forms.CharField(label=gettext_lazy("Purpose"), max_length=200, required=False)


@login_required
@require_http_methods(["GET", "POST"])
def grants(request: HttpRequest, code: str) -> HttpResponse:
    """The custodian grants or revokes legitimate-interest access to one battery."""
    battery = get_object_or_404(
        Battery.objects.visible_to(request.user).select_related("current_custodian", "oem"), code=code
    )
    if not request.user.has_perm("passport.grant_access", battery):
        raise Http404
    form = GrantForm(request.POST or None)
    if request.method == "POST":
        try:
            if "revoke" in request.POST:
                grant = get_object_or_404(
                    AccessGrant.objects.filter(battery=battery), pk=request.POST["revoke"]
                )
                services.revoke_access_grant(grant=grant, by=request.user)
                messages.success(request, _("Access revoked."))
                return redirect("passport:grants", code=battery.code)
            if form.is_valid():
                until = datetime.combine(
                    form.cleaned_data["valid_until"], time.max, tzinfo=timezone.get_current_timezone()
                )
                services.grant_access(
                    battery=battery,
                    grantee=form.cleaned_data["grantee"],
                    by=request.user,
                    valid_until=until,
                    purpose=form.cleaned_data["purpose"],
                )
                messages.success(request, _("Access granted."))
                return redirect("passport:grants", code=battery.code)
        except DomainError as error:
            form.add_error(None, str(error.message))
    existing = AccessGrant.objects.filter(battery=battery).select_related("grantee").order_by("-created_at")
    return render(
        request,
        "passport/grants.html",
        {
            "battery": battery,
            "form": form,
            "grants": existing,
            "passport_url": reverse("passport:page", args=[battery.code]),
        },
    )
