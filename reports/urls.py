from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("reports/", views.report_list, name="list"),
    path("reports/new/", views.report_create, name="create"),
    path("reports/<int:pk>/", views.report_detail, name="detail"),
    path("reports/<int:pk>/cancel/", views.report_cancel, name="cancel"),
    path("reports/<int:pk>/files/<str:name>", views.report_download, name="download"),
]
