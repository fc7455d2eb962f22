"""Custody pages: intake (scan, check, confirm), batch intake, grading, dismantling, repurposing,
recycling into lots, transfers, the battery timeline and the public lot page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError
from core.models import JobRun
from custody import forms, selectors, services
from custody.events.machine import allowed_steps
from custody.intake.models import IntakeImport
from custody.lots import qr as lot_qr_images
from custody.lots.models import MaterialLot
from custody.selectors.home import home_figures
from custody.services.audit import JOB_NAME as AUDIT_JOB
from custody.services.intake_import import progress_of
from custody.transfers.models import Transfer
from licensing.models import Facility
from passport import access, codes
from passport.attributes import AUTHORITY, LEGITIMATE_INTEREST
from passport.models import Battery


def _organisation(request: HttpRequest) -> Any:
    return getattr(request.user, "organisation", None)


def _can_operate(request: HttpRequest) -> bool:
    return request.user.has_perm("custody.record_steps")


def _readable_battery(request: HttpRequest, code: str) -> Battery:
    battery = Battery.objects.for_passport().filter(code=codes.normalise(code)).first()
    if battery is None or access.tier_for(battery, request.user) not in (LEGITIMATE_INTEREST, AUTHORITY):
        raise Http404
    return battery


def _readable_lot(request: HttpRequest, code: str) -> MaterialLot:
    return get_object_or_404(
        MaterialLot.objects.visible_to(request.user).select_related(
            "current_custodian", "facility", "produced_by"
        ),
        code=code.strip().upper(),
    )


# ---------------------------------------------------------------------------------------------------
# Home
# ---------------------------------------------------------------------------------------------------
@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """What the organisation holds and what waits for it: open offers, batteries, lots, imports."""
    organisation = _organisation(request)
    if organisation is None:
        raise Http404
    held = (
        Battery.objects.filter(current_custodian=organisation)
        .select_related("oem", "battery_model")
        .order_by("status", "code")
    )
    status = request.GET.get("status", "")
    if status in Battery.Status.values:
        held = held.filter(status=status)
    pending = Transfer.objects.pending().select_related(
        "battery", "lot", "from_organisation", "to_organisation", "to_facility"
    )
    return render(
        request,
        "custody/home.html",
        {
            "figures": home_figures(organisation),
            "incoming": pending.filter(to_organisation=organisation)[:20],
            "outgoing": pending.filter(from_organisation=organisation)[:20],
            "page": Paginator(held, 50).get_page(request.GET.get("page")),
            "status": status,
            "statuses": Battery.Status.choices,
            "lots": MaterialLot.objects.filter(
                current_custodian=organisation, status=MaterialLot.Status.ACTIVE
            )
            .select_related("facility")
            .order_by("-produced_at")[:50],
            "imports": IntakeImport.objects.visible_to(request.user).select_related("facility")[:5],
            "can_operate": _can_operate(request),
        },
    )


# ---------------------------------------------------------------------------------------------------
# Intake: scan or type, check, confirm
# ---------------------------------------------------------------------------------------------------
def _snapshot_choices(preview: selectors.IntakePreview) -> list[tuple[str, str]]:
    return [
        (snapshot.payload_hash, f"{snapshot.captured_at:%Y-%m-%d %H:%M} · SOH {snapshot.soh_pct:g}%")
        for snapshot in preview.snapshots
    ]


@login_required
@require_http_methods(["GET", "POST"])
def intake(request: HttpRequest) -> HttpResponse:
    """Scan or type a code and choose the site: the origin and licence checks show before confirming."""
    organisation = _organisation(request)
    if organisation is None or not _can_operate(request):
        raise Http404
    if request.method == "POST":
        facility = Facility.objects.filter(pk=request.POST.get("facility"), organisation=organisation).first()
        preview = selectors.intake_preview(
            user=request.user, typed=request.POST.get("code", ""), facility=facility
        )
        form = forms.IntakeForm(
            request.POST, organisation=organisation, snapshot_choices=_snapshot_choices(preview)
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                outcome = services.record_intake(
                    by=request.user,
                    code=data["code"],
                    facility=data["facility"],
                    occurred_at=data["occurred_at"],
                    snapshots=data["snapshots"],
                    note=data["note"],
                    idempotency_key=data["idempotency_key"],
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(
                    request,
                    _("%(code)s taken in at %(site)s.")
                    % {"code": outcome.event.battery.code, "site": data["facility"].name},
                )
                return redirect("custody:timeline", code=outcome.event.battery.code)
        check = forms.IntakeCheckForm(
            {"code": request.POST.get("code", ""), "facility": request.POST.get("facility")},
            organisation=organisation,
        )
        return render(request, "custody/intake.html", {"check": check, "preview": preview, "form": form})
    check = forms.IntakeCheckForm(request.GET or None, organisation=organisation)
    preview = form = None
    if check.is_bound and check.is_valid():
        preview = selectors.intake_preview(
            user=request.user, typed=check.cleaned_data["code"], facility=check.cleaned_data["facility"]
        )
        form = forms.IntakeForm(
            initial={"code": preview.code, "facility": check.cleaned_data["facility"]},
            organisation=organisation,
            snapshot_choices=_snapshot_choices(preview),
        )
    template = "custody/_intake_preview.html" if request.htmx else "custody/intake.html"
    return render(request, template, {"check": check, "preview": preview, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def intake_import_create(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of batteries taken in at one site; checked whole, then recorded whole or not at all."""
    organisation = _organisation(request)
    if organisation is None or not _can_operate(request):
        raise Http404
    form = forms.IntakeImportForm(request.POST or None, request.FILES or None, organisation=organisation)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.start_intake_import(
                upload=form.cleaned_data["file"], facility=form.cleaned_data["facility"], by=request.user
            )
        except DomainError as error:
            form.add_error("file", str(error.message))
        else:
            return redirect("custody:intake-import-detail", pk=job.pk)
    recent = IntakeImport.objects.visible_to(request.user).select_related("facility")[:10]
    return render(request, "custody/intake_import_form.html", {"form": form, "recent": recent})


@login_required
@require_GET
def intake_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress, then the per-row report or every problem found; htmx polls the progress block."""
    job = get_object_or_404(IntakeImport.objects.visible_to(request.user).select_related("facility"), pk=pk)
    template = "custody/_intake_import_progress.html" if request.htmx else "custody/intake_import_detail.html"
    return render(request, template, {"job": job, "percent": progress_of(job)})


# ---------------------------------------------------------------------------------------------------
# One battery: its possible steps
# ---------------------------------------------------------------------------------------------------
BATTERY_FORMS: dict[str, type] = {
    "graded": forms.GradeForm,
    "dismantled": forms.DismantleForm,
    "repurposed": forms.RepurposeForm,
    "disposed": forms.DisposeForm,
    "retired": forms.RetireForm,
    "transfer": forms.TransferForm,
}


def _battery_forms(
    battery: Battery, request: HttpRequest, bound: dict[str, Any] | None = None
) -> dict[str, Any]:
    organisation = _organisation(request)
    if battery.current_custodian_id != getattr(organisation, "pk", None) or not _can_operate(request):
        return {}
    possible = set(allowed_steps(battery))
    chosen = {}
    for step, form_class in BATTERY_FORMS.items():
        available = "transfer_initiated" in possible if step == "transfer" else step in possible
        if available:
            chosen[step] = (bound or {}).get(step) or form_class(organisation=organisation)
    return chosen


def _render_battery(
    request: HttpRequest, battery: Battery, bound: dict[str, Any] | None = None
) -> HttpResponse:
    pending = Transfer.objects.pending().filter(battery=battery).select_related("to_organisation").first()
    return render(
        request,
        "custody/battery.html",
        {
            "battery": battery,
            "forms": {} if pending else _battery_forms(battery, request, bound),
            "pending": pending,
            "children": battery.children.order_by("code")[:200],
        },
        status=400 if bound else 200,
    )


@login_required
@require_GET
def battery(request: HttpRequest, code: str) -> HttpResponse:
    """A battery's custody page: status, holder, and the steps its custodian may record next."""
    return _render_battery(request, _readable_battery(request, code))


@login_required
@require_POST
def battery_step(request: HttpRequest, code: str, step: str) -> HttpResponse:
    """Record one step of a battery from its page."""
    battery = _readable_battery(request, code)
    form_class = BATTERY_FORMS.get(step)
    if form_class is None:
        raise Http404
    form = form_class(request.POST, organisation=_organisation(request))
    if not form.is_valid():
        return _render_battery(request, battery, {step: form})
    data = form.cleaned_data
    common = {"by": request.user, "code": battery.code, "idempotency_key": data.get("idempotency_key")}
    try:
        if step == "transfer":
            services.initiate_transfer(
                by=request.user,
                battery_code=battery.code,
                to_organisation=data["to_facility"].organisation_id,
                to_facility=data["to_facility"],
                note=data["note"],
                idempotency_key=data["idempotency_key"],
            )
            messages.success(
                request,
                _("%(code)s offered to %(receiver)s.")
                % {"code": battery.code, "receiver": data["to_facility"].organisation.name},
            )
            return redirect("custody:transfers")
        if step == "retired":
            services.record_retirement(**common, reason=data["reason"])
        else:
            common.update(facility=data["facility"], occurred_at=data["occurred_at"])
            if step == "graded":
                services.record_grading(
                    **common, grade=data["grade"], method=data["method"], lab=data["lab"], note=data["note"]
                )
            elif step == "dismantled":
                services.record_dismantling(**common, components=form.component_codes(), note=data["note"])
            elif step == "repurposed":
                services.record_repurposing(
                    **common, new_code=data["new_code"], application=data["application"]
                )
            else:
                services.record_disposal(**common, method=data["method"])
    except DomainError as error:
        form.add_error(None, f"{error.message} ({error.code})")
        return _render_battery(request, battery, {step: form})
    messages.success(request, _("Recorded on the custody chain of %(code)s.") % {"code": battery.code})
    return redirect("custody:timeline", code=battery.code)


# ---------------------------------------------------------------------------------------------------
# Recycling into material lots
# ---------------------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def recycle(request: HttpRequest) -> HttpResponse:
    """Turn batteries or modules into material lots, with their masses and a mass balance."""
    organisation = _organisation(request)
    if organisation is None or not _can_operate(request):
        raise Http404
    initial = {"inputs": "\n".join(request.GET.getlist("code"))}
    form = forms.RecycleForm(request.POST or None, organisation=organisation, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = services.record_recycling(
                by=request.user,
                facility=data["facility"],
                inputs=form.input_items(),
                outputs=form.output_items(),
                losses_kg=str(data["losses_kg"] or 0),
                process=data["process"],
                occurred_at=data["occurred_at"],
                idempotency_key=data["idempotency_key"],
            )
        except DomainError as error:
            form.add_error(None, f"{error.message} ({error.code})")
        else:
            lots = selectors.produced_from(outcome.event)
            messages.success(
                request, _("Recycled into %(lots)s.") % {"lots": ", ".join(item["code"] for item in lots)}
            )
            return redirect("custody:lot-page", code=lots[0]["code"])
    return render(request, "custody/recycle.html", {"form": form}, status=400 if form.is_bound else 200)


# ---------------------------------------------------------------------------------------------------
# Transfers
# ---------------------------------------------------------------------------------------------------
@login_required
@require_GET
def transfers(request: HttpRequest) -> HttpResponse:
    """Offers to and from the organisation: accept, reject or cancel the open ones."""
    organisation = _organisation(request)
    if organisation is None:
        raise Http404
    visible = Transfer.objects.visible_to(request.user).select_related(
        "battery", "lot", "from_organisation", "to_organisation", "from_facility", "to_facility"
    )
    pending = visible.filter(status=Transfer.Status.PENDING)
    return render(
        request,
        "custody/transfers.html",
        {
            "incoming": pending.filter(to_organisation=organisation),
            "outgoing": pending.filter(from_organisation=organisation),
            "history": visible.exclude(status=Transfer.Status.PENDING)[:50],
            "decision": forms.DecisionForm(initial={"idempotency_key": ""}),
            "can_operate": _can_operate(request),
        },
    )


@login_required
@require_POST
def transfer_decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Accept, reject or cancel an offer."""
    form = forms.DecisionForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    key = data.get("idempotency_key") or None
    try:
        if action == "accept":
            outcome = services.accept_transfer(by=request.user, transfer=pk, idempotency_key=key)
            messages.success(
                request, _("%(code)s is now in your custody.") % {"code": outcome.transfer.subject_code}
            )
        elif action == "reject":
            services.reject_transfer(
                by=request.user, transfer=pk, reason=data.get("reason", ""), idempotency_key=key
            )
            messages.success(request, _("Offer rejected."))
        elif action == "cancel":
            services.cancel_transfer(
                by=request.user, transfer=pk, reason=data.get("reason", ""), idempotency_key=key
            )
            messages.success(request, _("Offer withdrawn."))
        else:
            raise Http404
    except DomainError as error:
        messages.error(request, f"{error.message} ({error.code})")
    return redirect("custody:transfers")


# ---------------------------------------------------------------------------------------------------
# Material lots
# ---------------------------------------------------------------------------------------------------
LOT_FORMS: dict[str, type] = {
    "split": forms.SplitForm,
    "merge": forms.MergeForm,
    "dispose": forms.DisposeForm,
    "transfer": forms.TransferForm,
}


def _render_lot_manage(
    request: HttpRequest, lot: MaterialLot, bound: dict[str, Any] | None = None
) -> HttpResponse:
    organisation = _organisation(request)
    chosen: dict[str, Any] = {}
    pending = Transfer.objects.pending().filter(lot=lot).select_related("to_organisation").first()
    if (
        lot.current_custodian_id == getattr(organisation, "pk", None)
        and _can_operate(request)
        and not pending
        and lot.status == MaterialLot.Status.ACTIVE
    ):
        for step, form_class in LOT_FORMS.items():
            initial = {"codes": lot.code} if step == "merge" else None
            chosen[step] = (bound or {}).get(step) or form_class(organisation=organisation, initial=initial)
    return render(
        request,
        "custody/lot_manage.html",
        {"lot": lot, "forms": chosen, "pending": pending, "entries": selectors.timeline(lot)},
        status=400 if bound else 200,
    )


@login_required
@require_GET
def lot_manage(request: HttpRequest, code: str) -> HttpResponse:
    """A lot's custody chain and the steps its custodian may record."""
    return _render_lot_manage(request, _readable_lot(request, code))


@login_required
@require_POST
def lot_step(request: HttpRequest, code: str, step: str) -> HttpResponse:
    lot = _readable_lot(request, code)
    form_class = LOT_FORMS.get(step)
    if form_class is None:
        raise Http404
    form = form_class(request.POST, organisation=_organisation(request))
    if not form.is_valid():
        return _render_lot_manage(request, lot, {step: form})
    data = form.cleaned_data
    key = data.get("idempotency_key")
    try:
        if step == "split":
            outcome = services.split_lot(
                by=request.user,
                code=lot.code,
                facility=data["facility"],
                parts=form.part_masses(),
                losses_kg=str(data["losses_kg"] or 0),
                occurred_at=data["occurred_at"],
                idempotency_key=key,
            )
        elif step == "merge":
            outcome = services.merge_lots(
                by=request.user,
                codes=form.lot_codes(),
                facility=data["facility"],
                losses_kg=str(data["losses_kg"] or 0),
                occurred_at=data["occurred_at"],
                idempotency_key=key,
            )
        elif step == "dispose":
            outcome = services.dispose_lot(
                by=request.user,
                code=lot.code,
                facility=data["facility"],
                method=data["method"],
                occurred_at=data["occurred_at"],
                idempotency_key=key,
            )
        else:
            services.initiate_transfer(
                by=request.user,
                lot_code=lot.code,
                to_organisation=data["to_facility"].organisation_id,
                to_facility=data["to_facility"],
                note=data["note"],
                idempotency_key=key,
            )
            return redirect("custody:transfers")
    except DomainError as error:
        form.add_error(None, f"{error.message} ({error.code})")
        return _render_lot_manage(request, lot, {step: form})
    produced = selectors.produced_from(outcome.event)
    messages.success(request, _("Recorded on the custody chain of %(code)s.") % {"code": lot.code})
    return redirect("custody:lot-manage", code=produced[0]["code"] if produced else lot.code)


@require_GET
def lot_page(request: HttpRequest, code: str) -> HttpResponse:
    """The public passport of a material lot: what it is, its QR code and its lawful-origin trace."""
    lot = get_object_or_404(
        MaterialLot.objects.select_related("current_custodian", "facility", "produced_by"),
        code=code.strip().upper(),
    )
    return render(
        request,
        "custody/lot.html",
        {
            "lot": lot,
            "trace": selectors.lot_trace(lot),
            "entries": selectors.timeline(lot),
            "url": lot_qr_images.lot_url(lot.code),
        },
    )


@require_GET
def lot_qr(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    lot = get_object_or_404(MaterialLot, code=code.strip().upper())
    image = lot_qr_images.lot_qr(lot.code, fmt)
    response = HttpResponse(image.content, content_type=image.content_type)
    response["ETag"] = image.etag
    response["Cache-Control"] = "public, max-age=86400"
    return response


# ---------------------------------------------------------------------------------------------------
# Timeline, audit
# ---------------------------------------------------------------------------------------------------
@login_required
@require_GET
def timeline(request: HttpRequest, code: str) -> HttpResponse:
    """Every event of a battery with its site, licence then (and any later revocation), data and proof."""
    battery = _readable_battery(request, code)
    return render(
        request,
        "custody/timeline.html",
        {
            "battery": battery,
            "entries": selectors.timeline(battery),
            "is_custodian": battery.current_custodian_id == getattr(_organisation(request), "pk", None),
        },
    )


@login_required
@require_GET
def audit_runs(request: HttpRequest) -> HttpResponse:
    """The integrity self-audit's recent runs (platform administrators and authorities)."""
    if not request.user.has_perm("custody.run_audit"):
        raise Http404
    runs = JobRun.objects.filter(job=AUDIT_JOB).order_by("-started_at")[:30]
    return render(request, "custody/audit.html", {"runs": runs})
