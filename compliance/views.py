"""Checklist pages: the chooser (or the member's own organisation), one organisation, one facility, and
the compliance report downloads."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.models import Organisation
from compliance import selectors, services
from compliance.checklist import Checklist
from licensing.models import Facility


def _organisation(request: HttpRequest, pk: int) -> Organisation:
    return get_object_or_404(selectors.organisations_for(request.user), pk=pk)


def _facility(request: HttpRequest, pk: int) -> Facility:
    return get_object_or_404(selectors.facilities_for(request.user), pk=pk)


def _page(request: HttpRequest, checklist: Checklist, facilities: list[Facility]) -> HttpResponse:
    return render(
        request,
        "compliance/checklist.html",
        {
            "checklist": checklist,
            "facilities": facilities,
            "is_authority": selectors.is_checklist_authority(request.user),
        },
    )


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Authorities choose an organisation or facility of their country; a member sees their own."""
    if selectors.is_checklist_authority(request.user):
        query = request.GET.get("q", "").strip()
        organisations = selectors.organisations_for(request.user).order_by("name")
        facilities = selectors.facilities_for(request.user).order_by("organisation__name", "name")
        if query:
            organisations = organisations.filter(name__icontains=query)
            facilities = facilities.filter(Q(name__icontains=query) | Q(organisation__name__icontains=query))
        return render(
            request,
            "compliance/home.html",
            {"organisations": organisations[:200], "facilities": facilities[:200], "query": query},
        )
    organisation = getattr(request.user, "organisation", None)
    if (
        organisation is None
        or not selectors.organisations_for(request.user).filter(pk=organisation.pk).exists()
    ):
        raise Http404
    checklist = selectors.checklist_for_organisation(organisation=organisation)
    return _page(request, checklist, list(organisation.facilities.order_by("name")))


@login_required
@require_GET
def organisation_checklist(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = _organisation(request, pk)
    checklist = selectors.checklist_for_organisation(organisation=organisation)
    return _page(request, checklist, list(organisation.facilities.order_by("name")))


@login_required
@require_GET
def facility_checklist(request: HttpRequest, pk: int) -> HttpResponse:
    facility = _facility(request, pk)
    return _page(request, selectors.checklist_for_facility(facility=facility), [])


def _download(request: HttpRequest, checklist: Checklist, fmt: str) -> HttpResponse:
    report = services.export_report(checklist=checklist, user=request.user, fmt=fmt)
    response = HttpResponse(report.content, content_type=report.content_type)
    response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def organisation_report(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The organisation's checklist as a signed JSON report or a PDF (each download is logged)."""
    organisation = _organisation(request, pk)
    return _download(request, selectors.checklist_for_organisation(organisation=organisation), fmt)


@login_required
@require_GET
def facility_report(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """One facility's checklist as a signed JSON report or a PDF (each download is logged)."""
    facility = _facility(request, pk)
    return _download(request, selectors.checklist_for_facility(facility=facility), fmt)
