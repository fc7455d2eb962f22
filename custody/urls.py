from django.urls import path, re_path

from custody import views
from custody.history import views as history_views

app_name = "custody"
urlpatterns = [
    path("custody/", views.home, name="home"),
    path("custody/intake/", views.intake, name="intake"),
    path("custody/intake/batch/", views.intake_import_create, name="intake-import-create"),
    path("custody/intake/batch/<int:pk>/", views.intake_import_detail, name="intake-import-detail"),
    path("custody/recycle/", views.recycle, name="recycle"),
    path("custody/transfers/", views.transfers, name="transfers"),
    path("custody/transfers/<int:pk>/<str:action>/", views.transfer_decide, name="transfer-decide"),
    path("custody/batteries/<str:code>/", views.battery, name="battery"),
    path("custody/batteries/<str:code>/<str:step>/", views.battery_step, name="battery-step"),
    path("custody/lots/<str:code>/", views.lot_manage, name="lot-manage"),
    path("custody/lots/<str:code>/<str:step>/", views.lot_step, name="lot-step"),
    path("custody/audit/", views.audit_runs, name="audit"),
    path("custody/history-requests/", history_views.history_requests, name="history-requests"),
    path(
        "custody/history-requests/new/", history_views.history_request_create, name="history-request-create"
    ),
    path(
        "custody/history-requests/<int:pk>/download/",
        history_views.history_request_download,
        name="history-request-download",
    ),
    path(
        "custody/history-requests/<int:pk>/<str:action>/",
        history_views.history_request_decide,
        name="history-request-decide",
    ),
    path("batteries/<str:code>/timeline", views.timeline, name="timeline"),
    path("lots/<str:code>", views.lot_page, name="lot-page"),
    re_path(r"^lots/(?P<code>[^/]+)/qr\.(?P<fmt>svg|png)$", views.lot_qr, name="lot-qr"),
]
