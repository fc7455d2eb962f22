from django.urls import path

from crossborder.api import views

app_name = "crossborder-api"
urlpatterns = [
    path("transfer-approvals/", views.TransferApprovalListApi.as_view(), name="approval-list"),
    path("transfer-approvals/<int:pk>/", views.TransferApprovalDetailApi.as_view(), name="approval-detail"),
    path(
        "transfer-approvals/<int:pk>/revoke",
        views.TransferApprovalRevokeApi.as_view(),
        name="approval-revoke",
    ),
    path("export-log/", views.ExportLogListApi.as_view(), name="export-log"),
]
