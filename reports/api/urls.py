from django.urls import path

from reports.api import views

app_name = "reports-api"
urlpatterns = [
    path("reports/", views.ReportListApi.as_view(), name="report-list"),
    path("reports/<int:pk>/", views.ReportDetailApi.as_view(), name="report-detail"),
    path("reports/<int:pk>/download", views.ReportDownloadApi.as_view(), name="report-download"),
    path("reports/<int:pk>/cancel", views.ReportCancelApi.as_view(), name="report-cancel"),
]
