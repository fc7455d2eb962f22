from django.urls import path

from crossborder import views

app_name = "crossborder"
urlpatterns = [
    path("cross-border/approvals/", views.approvals, name="approvals"),
    path("cross-border/approvals/<int:pk>/", views.approval_detail, name="approval"),
    path("cross-border/export-log/", views.export_log, name="export-log"),
]
