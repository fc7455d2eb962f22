from django.urls import path

from licensing.api import views

app_name = "licensing-api"
urlpatterns = [
    path("facilities/", views.FacilityListApi.as_view(), name="facility-list"),
    path("facilities/<int:pk>/", views.FacilityDetailApi.as_view(), name="facility-detail"),
    path("facilities/<int:pk>/status", views.FacilityStatusApi.as_view(), name="facility-status"),
    path("licences/", views.LicenceListApi.as_view(), name="licence-list"),
    path("licences/<int:pk>/", views.LicenceDetailApi.as_view(), name="licence-detail"),
    path("licences/<int:pk>/events/", views.LicenceEventListApi.as_view(), name="licence-event-list"),
    path("licences/<int:pk>/evidence/", views.LicenceEvidenceListApi.as_view(), name="licence-evidence-list"),
]
