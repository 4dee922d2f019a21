"""System checks: the overlap guard must be on every task (schedules.guard)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

GUARD = "schedules.guard.OverlapGuard"


def check_overlap_guard(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    annotations = getattr(settings, "CELERY_TASK_ANNOTATIONS", None) or []
    if isinstance(annotations, str | dict):
        annotations = [annotations]
    if GUARD in annotations:
        return []
    return [
        checks.Error(
            f"CELERY_TASK_ANNOTATIONS does not include {GUARD!r}.",
            hint="Without it a periodic run whose overlap lock expired while it waited in "
            "the queue still runs, beside its successor. Add it to the list.",
            id="schedules.E001",
        )
    ]
