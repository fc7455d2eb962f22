from django.urls import path

from compliance.api import views

app_name = "compliance-api"
urlpatterns = [
    path(
        "compliance/organisations/<int:pk>/",
        views.OrganisationChecklistApi.as_view(),
        name="organisation-checklist",
    ),
    path("compliance/facilities/<int:pk>/", views.FacilityChecklistApi.as_view(), name="facility-checklist"),
]
