"""The `task_failing` condition: periodic tasks whose recent runs fail (from schedules'
run history). Ops' own registered condition; `ops.conditions` evaluates it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from ops.levels import AMBER, RED, Firing
from schedules.models import TaskRun


def task_failure_conditions(*, now: datetime) -> Firing:
    """Periodic tasks whose recent runs fail: N in a row (red) or a high failure rate (amber)."""
    since = now - timedelta(hours=settings.OPS_TASK_FAILURE_LOOKBACK_HOURS)
    finished = [TaskRun.Status.FAILED, TaskRun.Status.SUCCEEDED]
    # Usually nothing failed: one query on the (status, queued_at) index and done.
    failing_names = set(
        TaskRun.objects.filter(status=TaskRun.Status.FAILED, queued_at__gte=since)
        .values_list("task_name", flat=True)
        .distinct()
        .order_by()
    )
    if not failing_names:
        return {}
    window = settings.OPS_TASK_FAILURE_WINDOW
    recent = (
        TaskRun.objects.filter(
            task_name__in=failing_names, status__in=finished, queued_at__gte=since
        )
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("task_name")],
                order_by=[F("queued_at").desc(), F("id").desc()],
            )
        )
        .filter(position__lte=window)
        .values_list("task_name", "status", "error")
        .order_by("task_name", "position")
    )
    runs: dict[str, list[tuple[str, str]]] = {}
    for task_name, status, error in recent:
        runs.setdefault(task_name, []).append((status, error))
    firing: Firing = {}
    for task_name, outcomes in runs.items():
        streak = 0
        for status, _ in outcomes:
            if status != TaskRun.Status.FAILED:
                break
            streak += 1
        failures = sum(1 for status, _ in outcomes if status == TaskRun.Status.FAILED)
        rate = failures / len(outcomes)
        last_error = next((error for status, error in outcomes if error), "")[:300]
        if streak >= settings.OPS_TASK_CONSECUTIVE_FAILURES:
            firing[task_name] = (
                RED,
                f"Periodic task {task_name} failed {streak} times in a row "
                f"(threshold {settings.OPS_TASK_CONSECUTIVE_FAILURES}). Last error: {last_error}",
            )
        elif (
            len(outcomes) >= settings.OPS_TASK_FAILURE_MIN_RUNS
            and rate >= settings.OPS_TASK_FAILURE_RATE
        ):
            firing[task_name] = (
                AMBER,
                f"Periodic task {task_name} failed {failures} of its last {len(outcomes)} runs "
                f"({rate:.0%}, threshold {settings.OPS_TASK_FAILURE_RATE:.0%}). "
                f"Last error: {last_error}",
            )
    return firing
