"""History-request pages: ask from the passport page, decide as custodian, download as requester."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError
from custody.history import selectors, services
from custody.history.forms import HistoryRequestForm
from custody.history.models import HistoryRequest
from passport.models import Battery


def _organisation(request: HttpRequest) -> Any:
    organisation = getattr(request.user, "organisation", None)
    if organisation is None:
        raise Http404
    return organisation


@login_required
@require_GET
def history_requests(request: HttpRequest) -> HttpResponse:
    """The requests the organisation made, and those it must decide as the battery's custodian."""
    organisation = _organisation(request)
    visible = selectors.history_requests_for(request.user)
    to_decide = visible.filter(battery__current_custodian=organisation).exclude(requester=organisation)
    return render(
        request,
        "custody/history_requests.html",
        {
            "made": visible.filter(requester=organisation)[:100],
            "pending": to_decide.filter(status=HistoryRequest.Status.REQUESTED),
            "decided": to_decide.exclude(status=HistoryRequest.Status.REQUESTED)[:100],
            # Custodians see what to decide; a pure buyer sees only its own requests.
            "holds_batteries": Battery.objects.filter(current_custodian=organisation).exists(),
            "can_decide": request.user.has_perm("custody.decide_history_requests"),
            "can_request": request.user.has_perm("custody.request_history"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def history_request_create(request: HttpRequest) -> HttpResponse:
    """Ask the battery's custodian for its BMS history (the passport page links here)."""
    _organisation(request)
    if request.method == "POST":
        form = HistoryRequestForm(request.POST)
        if form.is_valid():
            try:
                created = services.request_history(
                    by=request.user,
                    battery_code=form.cleaned_data["battery"],
                    purpose=form.cleaned_data["purpose"],
                )
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, f"{error.message}")
            else:
                messages.success(
                    request,
                    _("Your request for the history of %(code)s went to %(custodian)s.")
                    % {"code": created.battery.code, "custodian": created.custodian.name},
                )
                return redirect("custody:history-requests")
    else:
        form = HistoryRequestForm(initial={"battery": request.GET.get("battery", "")})
    return render(request, "custody/history_request_form.html", {"form": form})


@login_required
@require_POST
def history_request_decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Approve or reject, with the reason the requester sees."""
    if action not in ("approve", "reject"):
        raise Http404
    # The service checks the reason (REASON_REQUIRED, TOO_LONG) and reports it like any refusal.
    reason = request.POST.get("reason", "")
    decide = services.approve_history_request if action == "approve" else services.reject_history_request
    try:
        decided = decide(by=request.user, request=pk, reason=reason)
    except DomainError as error:
        messages.error(request, f"{error.message} ({error.code})")
    else:
        if action == "approve":
            message = _("History of %(code)s released to %(requester)s.")
        else:
            message = _("Request of %(requester)s for the history of %(code)s rejected.")
        messages.success(
            request, message % {"code": decided.battery.code, "requester": decided.requester.name}
        )
    return redirect("custody:history-requests")


@login_required
@require_GET
def history_request_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The signed history; a refusal is shown on the list (and stays recorded on the request)."""
    try:
        delivered = services.deliver_history(by=request.user, request=pk)
    except DomainError as error:
        if error.status_code == 404:
            raise Http404 from None
        messages.error(request, f"{error.message} ({error.code})")
        return redirect("custody:history-requests")
    response = HttpResponse(delivered.signed.content, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{delivered.filename}"'
    response["Cache-Control"] = "no-store"
    return response
