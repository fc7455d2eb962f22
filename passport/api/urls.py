from django.urls import include, path, re_path

from passport.api import views

app_name = "passport-api"
urlpatterns = [
    path("codes/<str:code>", views.CodeExplainApi.as_view(), name="code-explain"),
    path("batteries/", views.BatteryListApi.as_view(), name="battery-list"),
    re_path(
        r"^batteries/(?P<code>[^/]+)/qr\.(?P<fmt>svg|png)$", views.BatteryQrApi.as_view(), name="battery-qr"
    ),
    path("", include("passport.snapshots.api.urls")),
    path("batteries/<str:code>/grants/", views.AccessGrantListApi.as_view(), name="grant-list"),
    path("batteries/<str:code>/", views.PassportDetailApi.as_view(), name="passport-detail"),
    path("access-grants/<int:grant_id>/revoke", views.AccessGrantRevokeApi.as_view(), name="grant-revoke"),
    path("device-keys/", views.DeviceKeyListApi.as_view(), name="device-key-list"),
    path("device-keys/<str:key_id>/", views.DeviceKeyDetailApi.as_view(), name="device-key-detail"),
    path("device-keys/<str:key_id>/revoke", views.DeviceKeyRevokeApi.as_view(), name="device-key-revoke"),
    path("battery-models/", views.BatteryModelListApi.as_view(), name="battery-model-list"),
    path("manufacturer-codes/", views.ManufacturerCodeListApi.as_view(), name="manufacturer-code-list"),
]
