"""Pages: the facility list, a facility with its licence timeline, the regulator's forms, evidence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Organisation
from core.errors import DomainError, NotPermitted
from licensing import selectors, services
from licensing.filters import FacilityFilter
from licensing.forms import EvidenceForm, FacilityForm, LicenceEventForm, LicenceIssueForm
from licensing.models import Activity, Facility, Licence, LicenceEvent, LicenceEvidence

EXPIRY_SOON_DAYS = 30


def _refuse_or_show(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the form; a permission refusal is a 403 page."""
    if isinstance(error, NotPermitted):
        raise PermissionDenied(str(error.message)) from error
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error.message))


def _visible_facility(request: HttpRequest, pk: int) -> Facility:
    return get_object_or_404(Facility.objects.visible_to(request.user).select_related("organisation"), pk=pk)


def _visible_licence(request: HttpRequest, pk: int) -> Licence:
    return get_object_or_404(
        Licence.objects.visible_to(request.user).select_related("facility__organisation"), pk=pk
    )


@login_required
@require_GET
def facility_list(request: HttpRequest) -> HttpResponse:
    """Facilities the user may see, with each licence's status badge, filterable."""
    now = timezone.now()
    licences = Licence.objects.with_state(now).order_by("kind", "id")
    facilities = Facility.objects.visible_to(request.user).select_related("organisation")
    filters = FacilityFilter(request.GET or None, queryset=facilities)
    rows = filters.qs if filters.is_bound and filters.is_valid() else facilities
    page = Paginator(rows.prefetch_related(Prefetch("licences", queryset=licences)), 50).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "licensing/facility_list.html",
        {
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "soon": now + timedelta(days=EXPIRY_SOON_DAYS),
            "can_register": request.user.has_perm("licensing.register_facility", request.user.organisation)
            or request.user.has_perm("licensing.manage_licence"),
        },
    )


def _registrable_organisations(request: HttpRequest) -> Any:
    if request.user.has_perm("licensing.manage_licence"):
        return Organisation.objects.exclude(kind__in=[Organisation.Kind.REGULATOR, Organisation.Kind.AUDITOR])
    organisation = request.user.organisation
    if organisation is None or not request.user.has_perm("licensing.register_facility", organisation):
        raise PermissionDenied(
            _("Only the organisation's administrators or a regulator may register facilities.")
        )
    return Organisation.objects.filter(pk=organisation.pk)


@login_required
@require_http_methods(["GET", "POST"])
def facility_create(request: HttpRequest) -> HttpResponse:
    """Register a facility (an organisation's admin for their own, a regulator for anyone)."""
    organisations = _registrable_organisations(request)
    form = FacilityForm(request.POST or None, organisations=organisations)
    if request.method == "POST" and form.is_valid():
        try:
            facility = services.register_facility(
                by=request.user,
                organisation=form.cleaned_data["organisation"],
                name=form.cleaned_data["name"],
                address=form.cleaned_data["address"],
                province=form.cleaned_data["province"],
                time_zone=form.cleaned_data["timezone"],
            )
        except DomainError as error:
            _refuse_or_show(form, error)
        else:
            messages.success(request, _("Facility %(name)s registered.") % {"name": facility.name})
            return redirect("licensing:facility-detail", pk=facility.pk)
    return render(request, "licensing/facility_form.html", {"form": form})


@login_required
@require_GET
def facility_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A facility, its licences' status now and their timelines in the facility's local time."""
    facility = _visible_facility(request, pk)
    now = timezone.now()
    licences = selectors.facility_timeline(facility=facility, at=now)
    can_manage = request.user.has_perm("licensing.manage_licence")
    rows = [
        {
            "licence": licence,
            "can_submit": request.user.has_perm("licensing.submit_evidence", licence),
            "revocation": next(
                (e for e in licence.events.all() if e.kind == LicenceEvent.Kind.REVOKED), None
            ),
        }
        for licence in licences
    ]
    return render(
        request,
        "licensing/facility_detail.html",
        {
            "facility": facility,
            "rows": rows,
            "can_manage": can_manage,
            "issue_form": LicenceIssueForm() if can_manage else None,
            "activity_choices": Activity.choices,
            "soon": now + timedelta(days=EXPIRY_SOON_DAYS),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def licence_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue a licence to a facility (regulators and platform admins)."""
    facility = _visible_facility(request, pk)
    if not request.user.has_perm("licensing.manage_licence"):
        raise PermissionDenied(_("Only a regulator or a platform administrator may issue a licence."))
    form = LicenceIssueForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            licence = services.issue_licence(by=request.user, facility=facility, **form.cleaned_data)
        except DomainError as error:
            _refuse_or_show(form, error)
        else:
            messages.success(request, _("Licence %(number)s issued.") % {"number": licence.number})
            return redirect("licensing:facility-detail", pk=facility.pk)
    return render(request, "licensing/licence_form.html", {"form": form, "facility": facility})


@login_required
@require_http_methods(["GET", "POST"])
def licence_event_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Renew, change the scope of, suspend, reinstate or revoke a licence (regulators and platform admins)."""
    licence = _visible_licence(request, pk)
    if not request.user.has_perm("licensing.manage_licence"):
        raise PermissionDenied(_("Only a regulator or a platform administrator may change a licence."))
    zone = licence.facility.timezone
    form = LicenceEventForm(
        request.POST or None, request.FILES or None, zone=zone, initial={"kind": request.GET.get("kind")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            event = services.record_licence_event(
                by=request.user,
                licence=licence,
                kind=data["kind"],
                reason=data["reason"],
                effective_at=form.effective_instant(),
                valid_until=data.get("valid_until"),
                activities=data.get("activities"),
                evidence=data["evidence"],
            )
        except DomainError as error:
            _refuse_or_show(form, error)
        else:
            messages.success(
                request,
                _("Licence %(number)s: %(event)s recorded.")
                % {"number": licence.number, "event": event.get_kind_display()},
            )
            return redirect("licensing:facility-detail", pk=licence.facility_id)
    return render(request, "licensing/licence_event_form.html", {"form": form, "licence": licence})


@login_required
@require_POST
def evidence_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A facility admin (or a regulator) uploads evidence for a licence, e.g. for its renewal."""
    licence = _visible_licence(request, pk)
    if not request.user.has_perm("licensing.submit_evidence", licence):
        raise PermissionDenied(_("Only the facility's administrators or a regulator may submit evidence."))
    form = EvidenceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.submit_evidence(
                by=request.user,
                licence=licence,
                file=form.cleaned_data["file"],
                note=form.cleaned_data["note"],
            )
        except DomainError as error:
            _refuse_or_show(form, error)
        else:
            messages.success(
                request, _("Evidence uploaded for licence %(number)s.") % {"number": licence.number}
            )
            return redirect("licensing:facility-detail", pk=licence.facility_id)
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
    return redirect("licensing:facility-detail", pk=licence.facility_id)


@login_required
@require_GET
def evidence_download(request: HttpRequest, source: str, pk: int) -> FileResponse:
    """Serve an evidence file to someone who may see the licence it belongs to."""
    sources = {
        "licence": (Licence.objects.visible_to(request.user), "evidence"),
        "event": (LicenceEvent.objects.visible_to(request.user), "evidence"),
        "submission": (LicenceEvidence.objects.visible_to(request.user), "file"),
    }
    if source not in sources:
        raise Http404
    queryset, field = sources[source]
    stored = getattr(get_object_or_404(queryset, pk=pk), field)
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True, filename=stored.name.rsplit("/", 1)[-1])
