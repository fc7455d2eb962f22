from django.urls import include, path

from passport import views

app_name = "passport"
urlpatterns = [
    path("p/<str:code>", views.passport_page, name="page"),
    path("01/<str:gtin>/21/<str:serial>", views.digital_link_page, name="digital-link"),
    path("scan/", views.scan, name="scan"),
    path("passport/batteries/", views.battery_list, name="battery-list"),
    path("passport/imports/new/", views.import_create, name="import-create"),
    path("passport/imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("passport/labels/new/", views.label_create, name="label-create"),
    path("passport/labels/<int:pk>/", views.label_detail, name="label-detail"),
    path("passport/labels/<int:pk>/download/", views.label_download, name="label-download"),
    path("passport/batteries/<str:code>/grants/", views.grants, name="grants"),
    path("", include("passport.snapshots.urls")),
]
