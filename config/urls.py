from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "batch-platform"
admin.site.site_title = "batch-platform admin"
admin.site.index_title = "Schedules, imports, reports and ops"

urlpatterns = [
    path("health/", include("ops.urls")),
    path("admin/", admin.site.urls),
]
