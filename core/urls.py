from django.urls import path

from core import views

app_name = "core"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("language/", views.switch_language, name="switch-language"),
]
