from django.http import JsonResponse

from ops.selectors import dependency_status


def live(request):
    """Liveness: the process answers; it checks nothing else."""
    return JsonResponse({"status": "ok"})


def ready(request):
    """Readiness: 503 with what failed when a dependency is down."""
    checks = dependency_status()
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503
    )
