from django.urls import path

from custody.history.api import views

app_name = "custody-history-api"
urlpatterns = [
    path("history-requests/", views.HistoryRequestListApi.as_view(), name="history-request-list"),
    path(
        "history-requests/<int:pk>/", views.HistoryRequestDetailApi.as_view(), name="history-request-detail"
    ),
    path(
        "history-requests/<int:pk>/approve",
        views.HistoryRequestApproveApi.as_view(),
        name="history-request-approve",
    ),
    path(
        "history-requests/<int:pk>/reject",
        views.HistoryRequestRejectApi.as_view(),
        name="history-request-reject",
    ),
    path(
        "history-requests/<int:pk>/download",
        views.HistoryRequestDownloadApi.as_view(),
        name="history-request-download",
    ),
]
