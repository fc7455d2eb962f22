from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core import views as core_views

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("licensing.api.urls")),
    path("", include("passport.api.urls")),
    path("log/", include("custody.transparency.api.urls")),
    path("", include("custody.api.urls")),
    path("", include("crossborder.api.urls")),
    path("", include("reports.api.urls")),
    path("", include("compliance.api.urls")),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("facilities/", include("licensing.urls")),
    path("", include("passport.urls")),
    path("", include("custody.urls")),
    path("", include("crossborder.urls")),
    path("", include("reports.urls")),
    path("", include("compliance.urls")),
    path("", include("core.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
