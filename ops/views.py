from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache

from ops.access import bearer_token_matches, is_ops_staff
from ops.health import dependency_status
from ops.home import home_context
from ops.metrics import metrics_exposition


@never_cache
def live(request):
    """Liveness: the process answers; it checks nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    """Readiness: database, Redis, broker, heartbeats; 503 naming what failed.

    The public learns the status and the names of the failed checks; staff allowed to
    see the ops dashboard, or a request with the OPS_HEALTH_TOKEN, also get the details.
    """
    checks = dependency_status()
    failed = sorted(name for name, check in checks.items() if not check["ok"])
    body: dict = {"status": "fail" if failed else "ok"}
    if failed:
        body["failed"] = failed
    if is_ops_staff(request) or bearer_token_matches(request, token=settings.OPS_HEALTH_TOKEN):
        body["checks"] = checks
    return JsonResponse(body, status=503 if failed else 200)


@never_cache
def metrics(request):
    """Prometheus scrape: a Bearer OPS_METRICS_TOKEN, or staff allowed the ops dashboard.

    Anonymous requests get 401 (with the scheme to use), signed-in people without the
    permission 403.
    """
    if not (
        bearer_token_matches(request, token=settings.OPS_METRICS_TOKEN) or is_ops_staff(request)
    ):
        if request.user.is_authenticated:
            return HttpResponseForbidden("forbidden\n", content_type="text/plain")
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)


def admin_home(request):
    """The admin index with "did the night go well?" above the app list; wired in
    config/urls.py inside the admin's own login and permission checks."""
    from django.contrib import admin

    return admin.site.index(request, extra_context=home_context(user=request.user))
