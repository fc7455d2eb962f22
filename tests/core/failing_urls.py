"""A URLconf whose views fail, for the 500 handlers' tests."""

from django.urls import path

from config.urls import handler404, handler500  # noqa: F401 - the handlers under test


def fail(request):
    raise RuntimeError("secret detail")


urlpatterns = [path("api/v1/fails", fail), path("fails", fail)]
