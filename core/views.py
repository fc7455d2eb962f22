from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import health
from core.api.exception_handler import error_body
from core.navigation import panels_for


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The home page: panels chosen by the organisation's kind."""
    organisation = request.user.organisation  # type: ignore[union-attr]
    kind = organisation.kind if organisation else None
    panels = [(panel.template, panel.context(request.user)) for panel in panels_for(request.user, kind)]
    return render(request, "core/dashboard.html", {"organisation": organisation, "panels": panels})


@require_GET
def switch_language(request: HttpRequest) -> HttpResponse:
    """Remember the reader's language in a cookie and go back (GET, so pages need no CSRF token)."""
    language = request.GET.get("language", "")
    target = request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    if check_for_language(language) and language in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            secure=request.is_secure(),
            httponly=True,
            samesite="Lax",
        )
    return response


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and worker reachability: 200 when all are up, 503 otherwise."""
    checks = {"database": health.database_ok(), "broker": health.broker_ok(), "worker": health.worker_ok()}
    healthy = all(ok for ok, _detail in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)


API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: the error envelope for an address under /api/ that names no endpoint, the page otherwise."""
    if request.path.startswith(API_PREFIX):
        message = _("There is no API endpoint at %(path)s; the API is described at /api/docs/.") % {
            "path": request.path
        }
        return JsonResponse(error_body(code="NOT_FOUND", message=message), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: the error envelope for the API, the page otherwise; either way nothing of the failure leaks."""
    if request.path.startswith(API_PREFIX):
        message = _("The server failed to answer this request. The failure is logged; try again later.")
        return JsonResponse(error_body(code="SERVER_ERROR", message=message), status=500)
    return defaults.server_error(request)
