"""Snapshot pages: device keys, file uploads with progress, raw telemetry for authorities, legal holds,
lab designations and the retention report. Each form calls one service; domain errors become form errors."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Organisation
from core.errors import DomainError
from passport import services as passport_services
from passport.models import Battery, DeviceKey
from passport.snapshots import selectors as snapshot_selectors
from passport.snapshots import services, uploads
from passport.snapshots.forms import (
    DeviceKeyForm,
    LabDesignationForm,
    LegalHoldForm,
    LiftHoldForm,
    PurposeForm,
    RevokeKeyForm,
    SnapshotUploadForm,
    WithdrawDesignationForm,
    end_of,
    start_of,
)
from passport.snapshots.models import (
    LabDesignation,
    LegalHold,
    Snapshot,
    SnapshotUpload,
    TelemetryAccessLog,
)


# ---------------------------------------------------------------------------------------------------
# Device keys
# ---------------------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def device_keys(request: HttpRequest) -> HttpResponse:
    """The organisation's device keys with their revocation history; administrators register and revoke."""
    can_manage = request.user.has_perm("passport.manage_device_keys")
    form = DeviceKeyForm(request.POST if "register" in request.POST else None)
    revoke_form = RevokeKeyForm(request.POST if "revoke" in request.POST else None)
    if request.method == "POST":
        if not can_manage:
            raise Http404
        try:
            if "register" in request.POST and form.is_valid():
                data = form.cleaned_data
                key = passport_services.register_device_key(
                    organisation=request.user.organisation,
                    by=request.user,
                    public_key=data["public_key"],
                    purpose=data["purpose"],
                    device_serial=data["device_serial"],
                    label=data["label"],
                    valid_from=start_of(data["valid_from"]),
                    valid_until=end_of(data["valid_until"]),
                )
                messages.success(request, _("Key %(key)s… registered.") % {"key": key.key_id[:16]})
                return redirect("passport:device-keys")
            if "revoke" in request.POST and revoke_form.is_valid():
                key = get_object_or_404(
                    DeviceKey.objects.visible_to(request.user), key_id=revoke_form.cleaned_data["key_id"]
                )
                passport_services.revoke_device_key(
                    key=key,
                    by=request.user,
                    reason=revoke_form.cleaned_data["reason"],
                    effective_at=start_of(revoke_form.cleaned_data["effective_on"]),
                )
                messages.success(request, _("Key %(key)s… revoked.") % {"key": key.key_id[:16]})
                return redirect("passport:device-keys")
        except DomainError as error:
            target = form if "register" in request.POST else revoke_form
            target.add_error(None, str(error.message))
    keys = (
        DeviceKey.objects.visible_to(request.user)
        .select_related("organisation", "facility")
        .prefetch_related("revocations__actor")
        .order_by("-created_at")
    )
    return render(
        request,
        "passport/snapshots/device_keys.html",
        {"keys": keys, "form": form, "revoke_form": revoke_form, "can_manage": can_manage},
    )


# ---------------------------------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def snapshot_upload(request: HttpRequest) -> HttpResponse:
    """Upload a file of signed snapshots; it is ingested in the background."""
    if not request.user.has_perm("passport.upload_snapshots"):
        raise Http404
    form = SnapshotUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = uploads.start_snapshot_upload(upload=form.cleaned_data["file"], by=request.user)
        except DomainError as error:
            form.add_error("file", str(error.message))
        else:
            return redirect("passport:snapshot-upload-detail", pk=job.pk)
    recent = SnapshotUpload.objects.visible_to(request.user).order_by("-created_at")[:10]
    return render(request, "passport/snapshots/upload_form.html", {"form": form, "recent": recent})


@login_required
@require_GET
def snapshot_upload_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress, then the per-item report; htmx polls the progress block."""
    job = get_object_or_404(SnapshotUpload.objects.visible_to(request.user), pk=pk)
    template = (
        "passport/snapshots/_upload_progress.html"
        if request.htmx
        else "passport/snapshots/upload_detail.html"
    )
    return render(request, template, {"job": job})


# ---------------------------------------------------------------------------------------------------
# Raw telemetry (authorities)
# ---------------------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def snapshot_raw(request: HttpRequest, pk: int) -> HttpResponse:
    """An authority states why, then reads the decrypted payload; every read is logged."""
    if not request.user.has_perm("passport.read_raw_telemetry"):
        raise Http404
    snapshot = get_object_or_404(
        Snapshot.objects.visible_to(request.user).select_related(
            "battery__oem", "battery__current_custodian", "device_key"
        ),
        pk=pk,
    )
    form = PurposeForm(request.POST or None)
    raw = None
    if request.method == "POST" and form.is_valid():
        try:
            raw = services.read_raw_telemetry(
                user=request.user, snapshot=snapshot, purpose=form.cleaned_data["purpose"]
            )
        except DomainError as error:
            form.add_error(None, str(error.message))
    log = TelemetryAccessLog.objects.filter(snapshot=snapshot).select_related("user", "organisation")[:20]
    return render(
        request,
        "passport/snapshots/raw.html",
        {
            "snapshot": snapshot,
            "form": form,
            "raw": raw,
            "payload_json": json.dumps(raw.payload, indent=2, ensure_ascii=False) if raw else "",
            "log": log,
        },
    )


# ---------------------------------------------------------------------------------------------------
# Legal holds (authorities) and the retention report
# ---------------------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def battery_holds(request: HttpRequest, code: str) -> HttpResponse:
    """The legal holds on one battery; auditors and regulators place and lift them."""
    battery = get_object_or_404(
        Battery.objects.visible_to(request.user).select_related("oem", "current_custodian"), code=code
    )
    can_hold = request.user.has_perm("passport.place_legal_hold")
    form = LegalHoldForm(request.POST if "place" in request.POST else None)
    lift_form = LiftHoldForm(request.POST if "lift" in request.POST else None)
    if request.method == "POST":
        if not can_hold:
            raise Http404
        try:
            if "place" in request.POST and form.is_valid():
                snapshot = None
                if form.cleaned_data["snapshot_id"]:
                    snapshot = get_object_or_404(
                        Snapshot.objects.filter(battery=battery), pk=form.cleaned_data["snapshot_id"]
                    )
                services.place_legal_hold(
                    battery=battery,
                    snapshot=snapshot,
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    reference=form.cleaned_data["reference"],
                )
                messages.success(request, _("Legal hold placed."))
                return redirect("passport:battery-holds", code=battery.code)
            if "lift" in request.POST and lift_form.is_valid():
                hold = get_object_or_404(
                    LegalHold.objects.filter(battery=battery), pk=lift_form.cleaned_data["hold"]
                )
                services.lift_legal_hold(hold=hold, by=request.user, reason=lift_form.cleaned_data["reason"])
                messages.success(request, _("Legal hold lifted."))
                return redirect("passport:battery-holds", code=battery.code)
        except DomainError as error:
            (form if "place" in request.POST else lift_form).add_error(None, str(error.message))
    holds = (
        LegalHold.objects.filter(battery=battery)
        .select_related("snapshot", "placed_by", "placed_by_user", "lifted_by_user")
        .prefetch_related("events__actor", "events__organisation")
    )
    return render(
        request,
        "passport/snapshots/holds.html",
        {"battery": battery, "holds": holds, "form": form, "lift_form": lift_form, "can_hold": can_hold},
    )


@login_required
@require_GET
def retention(request: HttpRequest) -> HttpResponse:
    """What is kept until when, what is held, and whether shredding happened on time."""
    own = request.user.organisation
    is_authority = request.user.is_superuser or (own is not None and own.is_authority)
    organisation = own
    choices = []
    if is_authority:
        choices = list(Organisation.objects.exclude(kind__in=["auditor", "regulator"]).order_by("name"))
        wanted = request.GET.get("organisation", "")
        organisation = next((choice for choice in choices if str(choice.pk) == wanted), None)
    elif own is None:
        raise Http404
    report = snapshot_selectors.retention_report(organisation=organisation, user=request.user)
    return render(
        request,
        "passport/snapshots/retention.html",
        {"report": report, "choices": choices, "chosen": organisation, "is_authority": is_authority},
    )


# ---------------------------------------------------------------------------------------------------
# Lab designations (regulators)
# ---------------------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def lab_designations(request: HttpRequest) -> HttpResponse:
    """Designated evaluation institutions; regulators designate and withdraw."""
    can_designate = request.user.has_perm("passport.designate_lab")
    form = LabDesignationForm(request.POST if "designate" in request.POST else None)
    withdraw_form = WithdrawDesignationForm(request.POST if "withdraw" in request.POST else None)
    if request.method == "POST":
        if not can_designate:
            raise Http404
        try:
            if "designate" in request.POST and form.is_valid():
                data = form.cleaned_data
                services.designate_lab(
                    lab=data["lab"],
                    by=request.user,
                    valid_from=start_of(data["valid_from"]),
                    valid_until=end_of(data["valid_until"]),
                    reference=data["reference"],
                    scope=data["scope"],
                )
                messages.success(request, _("Designation recorded."))
                return redirect("passport:lab-designations")
            if "withdraw" in request.POST and withdraw_form.is_valid():
                designation = get_object_or_404(
                    LabDesignation.objects.all(), pk=withdraw_form.cleaned_data["designation"]
                )
                services.withdraw_lab_designation(
                    designation=designation, by=request.user, reason=withdraw_form.cleaned_data["reason"]
                )
                messages.success(request, _("Designation withdrawn."))
                return redirect("passport:lab-designations")
        except DomainError as error:
            (form if "designate" in request.POST else withdraw_form).add_error(None, str(error.message))
    designations = LabDesignation.objects.select_related("lab", "designated_by").prefetch_related(
        "withdrawals__organisation"
    )
    return render(
        request,
        "passport/snapshots/lab_designations.html",
        {
            "designations": designations,
            "form": form,
            "withdraw_form": withdraw_form,
            "can_designate": can_designate,
        },
    )
