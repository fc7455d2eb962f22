from django.urls import path, re_path

from compliance import views

app_name = "compliance"
urlpatterns = [
    path("compliance/", views.home, name="home"),
    path("compliance/organisations/<int:pk>/", views.organisation_checklist, name="organisation"),
    path("compliance/facilities/<int:pk>/", views.facility_checklist, name="facility"),
    re_path(
        r"^compliance/organisations/(?P<pk>[0-9]+)/report\.(?P<fmt>json|pdf)$",
        views.organisation_report,
        name="organisation-report",
    ),
    re_path(
        r"^compliance/facilities/(?P<pk>[0-9]+)/report\.(?P<fmt>json|pdf)$",
        views.facility_report,
        name="facility-report",
    ),
]
