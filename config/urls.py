from django.contrib import admin
from django.urls import include, path

from ops.views import metrics

admin.site.site_header = "batch-platform"
admin.site.site_title = "batch-platform admin"
admin.site.index_title = "Schedules, imports, reports and ops"

urlpatterns = [
    path("health/", include("ops.urls")),
    # Where Prometheus looks by default; no trailing slash, no redirect.
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
