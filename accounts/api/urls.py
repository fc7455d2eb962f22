from django.urls import path

from accounts.api import views

app_name = "accounts-api"
urlpatterns = [
    path("auth/token", views.TokenCreateApi.as_view(), name="token-create"),
    path("me/", views.MeApi.as_view(), name="me-detail"),
    path("organisations/", views.OrganisationListApi.as_view(), name="organisation-list"),
    path("organisations/<int:pk>/", views.OrganisationDetailApi.as_view(), name="organisation-detail"),
]
