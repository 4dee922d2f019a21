from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from ops.health import dependency_status


@never_cache
def live(request):
    """Liveness: the process answers; it checks nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    """Readiness: database, Redis, broker round trip, heartbeats; 503 naming what failed."""
    checks = dependency_status()
    failed = sorted(name for name, check in checks.items() if not check["ok"])
    body = {"status": "fail" if failed else "ok", "checks": checks}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)
