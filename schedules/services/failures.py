"""Pause on failure: a schedule with `pause_after_failures` = N pauses itself after N
failed runs in a row, says why in the audit trail and tells ops (an alert), until
*Resume* (or re-enabling it) ends the pause and resolves the alert."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from schedules.models import ScheduleOptions, TaskRun
from schedules.services.actions import periodic_tasks_pause
from schedules.signals import periodic_task_paused_for_failures

SOURCE_PAUSE_ON_FAILURE = "pause on failure"


def periodic_tasks_failure_pause_check(*, periodic_task_ids: Iterable[int]) -> list[int]:
    """Pause each of these schedules whose last N finished runs (since its last resume
    from such a pause) all failed; returns the ones paused now."""
    paused = []
    candidates = ScheduleOptions.objects.filter(
        periodic_task_id__in=set(periodic_task_ids),
        pause_after_failures__gte=1,
        paused_for_failures_at__isnull=True,
        periodic_task__enabled=True,
    )
    for options in candidates:
        needed = options.pause_after_failures or 0
        runs = TaskRun.objects.filter(
            periodic_task_id=options.periodic_task_id,
            status__in=[TaskRun.Status.SUCCEEDED, TaskRun.Status.FAILED],
        )
        if options.failures_counted_since is not None:
            runs = runs.filter(queued_at__gte=options.failures_counted_since)
        last = list(runs.order_by("-queued_at", "-id").values_list("status", "error")[:needed])
        if len(last) < needed or any(status != TaskRun.Status.FAILED for status, _ in last):
            continue
        if _pause(options=options, last_error=last[0][1]):
            paused.append(options.periodic_task_id)
    return paused


@transaction.atomic
def _pause(*, options: ScheduleOptions, last_error: str) -> bool:
    claimed = ScheduleOptions.objects.filter(
        pk=options.pk, paused_for_failures_at__isnull=True
    ).update(paused_for_failures_at=timezone.now())
    if not claimed:
        return False  # another worker's failure paused it first
    failures = options.pause_after_failures
    note = f"paused after {failures} failed runs in a row; last error: {last_error[:300]}"
    periodic_tasks_pause(
        periodic_task_ids=[options.periodic_task_id], source=SOURCE_PAUSE_ON_FAILURE, note=note
    )
    name = PeriodicTask.objects.filter(pk=options.periodic_task_id).values_list("name", flat=True)
    transaction.on_commit(
        partial(
            periodic_task_paused_for_failures.send,
            sender=PeriodicTask,
            periodic_task_id=options.periodic_task_id,
            periodic_task_name=name.first() or "",
            failures=failures,
            last_error=last_error[:300],
        )
    )
    return True


def run_failure_pause_check(*, celery_task_id: str) -> bool:
    """After a run failed: does its schedule pause now?"""
    periodic_task_id = (
        TaskRun.objects.filter(celery_task_id=celery_task_id)
        .values_list("periodic_task_id", flat=True)
        .first()
    )
    if periodic_task_id is None:
        return False
    return bool(periodic_tasks_failure_pause_check(periodic_task_ids=[periodic_task_id]))
