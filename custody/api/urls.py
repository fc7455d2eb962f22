from django.urls import include, path

from custody.api import views

app_name = "custody-api"
urlpatterns = [
    path("batteries/<str:code>/events/", views.BatteryEventListApi.as_view(), name="battery-event-list"),
    path("batteries/<str:code>/bundle", views.BatteryBundleApi.as_view(), name="battery-bundle"),
    path("transfers/", views.TransferListApi.as_view(), name="transfer-list"),
    path("transfers/<int:pk>/", views.TransferDetailApi.as_view(), name="transfer-detail"),
    path("transfers/<int:pk>/accept", views.TransferAcceptApi.as_view(), name="transfer-accept"),
    path("transfers/<int:pk>/reject", views.TransferRejectApi.as_view(), name="transfer-reject"),
    path("transfers/<int:pk>/cancel", views.TransferCancelApi.as_view(), name="transfer-cancel"),
    path("lots/", views.LotListApi.as_view(), name="lot-list"),
    path("lots/merge", views.LotMergeApi.as_view(), name="lot-merge"),
    path("lots/<str:code>/", views.LotDetailApi.as_view(), name="lot-detail"),
    path("lots/<str:code>/events/", views.LotEventListApi.as_view(), name="lot-event-list"),
    path("lots/<str:code>/trace", views.LotTraceApi.as_view(), name="lot-trace"),
    path("intake-imports/", views.IntakeImportCreateApi.as_view(), name="intake-import-create"),
    path("intake-imports/<int:pk>/", views.IntakeImportDetailApi.as_view(), name="intake-import-detail"),
    path("", include("custody.history.api.urls")),
]
