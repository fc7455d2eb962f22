"""Snapshot API routes, included into the passport API namespace (names `passport-api:...`)."""

from django.urls import path

from passport.snapshots.api import views

urlpatterns = [
    path("snapshots/", views.SnapshotIngestApi.as_view(), name="snapshot-ingest"),
    path("snapshots/<int:pk>/", views.SnapshotDetailApi.as_view(), name="snapshot-detail"),
    path("snapshots/<int:pk>/raw", views.SnapshotRawApi.as_view(), name="snapshot-raw"),
    path("batteries/<str:code>/snapshots/", views.BatterySnapshotListApi.as_view(), name="battery-snapshots"),
    path("certifications/", views.CertificationListApi.as_view(), name="certification-list"),
    path("lab-designations/", views.LabDesignationListApi.as_view(), name="lab-designation-list"),
    path(
        "lab-designations/<int:pk>/withdraw",
        views.LabDesignationWithdrawApi.as_view(),
        name="lab-designation-withdraw",
    ),
    path("legal-holds/", views.LegalHoldListApi.as_view(), name="legal-hold-list"),
    path("legal-holds/<int:pk>/lift", views.LegalHoldLiftApi.as_view(), name="legal-hold-lift"),
    path("retention-report/", views.RetentionReportApi.as_view(), name="retention-report"),
]
