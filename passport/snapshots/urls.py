"""Snapshot pages, included into the passport namespace (names `passport:...`)."""

from django.urls import path

from passport.snapshots import views

urlpatterns = [
    path("passport/device-keys/", views.device_keys, name="device-keys"),
    path("passport/snapshots/upload/", views.snapshot_upload, name="snapshot-upload"),
    path("passport/snapshots/uploads/<int:pk>/", views.snapshot_upload_detail, name="snapshot-upload-detail"),
    path("passport/snapshots/<int:pk>/raw/", views.snapshot_raw, name="snapshot-raw"),
    path("passport/batteries/<str:code>/holds/", views.battery_holds, name="battery-holds"),
    path("passport/retention/", views.retention, name="retention"),
    path("passport/lab-designations/", views.lab_designations, name="lab-designations"),
]
