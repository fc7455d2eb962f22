from django.urls import path

from licensing import views

app_name = "licensing"
urlpatterns = [
    path("", views.facility_list, name="facility-list"),
    path("new/", views.facility_create, name="facility-create"),
    path("<int:pk>/", views.facility_detail, name="facility-detail"),
    path("<int:pk>/licences/new/", views.licence_create, name="licence-create"),
    path("licences/<int:pk>/events/new/", views.licence_event_create, name="licence-event-create"),
    path("licences/<int:pk>/evidence/new/", views.evidence_create, name="evidence-create"),
    path("evidence/<str:source>/<int:pk>/", views.evidence_download, name="evidence-download"),
]
