"""A view that fails on purpose, for what Sentry receives from a web request."""

from django.urls import path


def fail_on_purpose(request):
    raise RuntimeError("the view failed on purpose")


urlpatterns = [path("fail/", fail_on_purpose)]
