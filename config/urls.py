from django.contrib import admin
from django.urls import include, path

from ops.views import admin_home, metrics

admin.site.site_header = "batch-platform"
admin.site.site_title = "batch-platform admin"
admin.site.index_title = "Schedules, imports, reports and ops"

urlpatterns = [
    path("health/", include("ops.urls")),
    # Where Prometheus looks by default; no trailing slash, no redirect.
    path("metrics", metrics, name="metrics"),
    # The admin home answers "did the night go well?" (ops.home), then lists the apps.
    path("admin/", admin.site.admin_view(admin_home), name="admin_home"),
    path("admin/", admin.site.urls),
]
