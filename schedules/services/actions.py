"""What an admin does to a periodic task: pause, resume, run now, release its lock.

Each is audited through `schedules.services.audit`, naming the user and the source.
"""

from __future__ import annotations

import json
from typing import Any

from celery_once import QueueOnce
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from schedules import selectors
from schedules.locks import lock_release
from schedules.models import ScheduleChange, TaskRun
from schedules.services.audit import SOURCE_ADMIN, schedule_change_record, schedule_snapshot
from schedules.services.enqueue import PERIODIC_TASK_ID_OPTION, QUEUED_BY_OPTION, TRIGGER_OPTION
from schedules.services.runs import run_record_queued


@transaction.atomic
def _periodic_tasks_set_enabled(
    *, periodic_task_ids: list[int], enabled: bool, user, source: str
) -> int:
    count = 0
    for task in PeriodicTask.objects.select_for_update().filter(
        pk__in=periodic_task_ids, enabled=not enabled
    ):
        before = schedule_snapshot(task)
        task.enabled = enabled
        if enabled:
            # Time spent paused is not downtime: count the schedule from now, so
            # resuming does not fire a catch-up run for the paused period.
            task.last_run_at = timezone.now()
        task.save()  # signals PeriodicTasks.changed: the running beat reloads
        schedule_change_record(
            action=ScheduleChange.Action.RESUMED if enabled else ScheduleChange.Action.PAUSED,
            obj=task,
            user=user,
            source=source,
            before=before,
            after=schedule_snapshot(task),
        )
        count += 1
    return count


def periodic_tasks_pause(
    *, periodic_task_ids: list[int], user=None, source: str = SOURCE_ADMIN
) -> int:
    return _periodic_tasks_set_enabled(
        periodic_task_ids=periodic_task_ids, enabled=False, user=user, source=source
    )


def periodic_tasks_resume(
    *, periodic_task_ids: list[int], user=None, source: str = SOURCE_ADMIN
) -> int:
    return _periodic_tasks_set_enabled(
        periodic_task_ids=periodic_task_ids, enabled=True, user=user, source=source
    )


def periodic_task_run_now(
    *, periodic_task_id: int, user, source: str = SOURCE_ADMIN
) -> tuple[bool, str]:
    """Queue a periodic task now through the same lock and history as beat.

    Returns (queued, message); a run refused by the lock is recorded as skipped.
    """
    periodic_task = PeriodicTask.objects.get(pk=periodic_task_id)
    task = selectors.registered_tasks().get(periodic_task.task)
    if task is None:
        return False, f"{periodic_task.name}: task {periodic_task.task!r} is not registered"
    args = json.loads(periodic_task.args or "[]")
    kwargs = json.loads(periodic_task.kwargs or "{}")
    options: dict[str, Any] = {"headers": {"periodic_task_name": periodic_task.name}}
    if periodic_task.queue:
        options["queue"] = periodic_task.queue
    username = getattr(user, "get_username", lambda: "")()
    if isinstance(task, QueueOnce):
        options.update(
            {
                TRIGGER_OPTION: TaskRun.Trigger.MANUAL,
                QUEUED_BY_OPTION: username,
                PERIODIC_TASK_ID_OPTION: periodic_task.pk,
            }
        )
        holder_before = selectors.periodic_task_lock_holder(periodic_task)
        result = task.apply_async(args, kwargs, **options)
        if result.id is None:  # refused by the lock
            held = holder_before or selectors.periodic_task_lock_holder(periodic_task)
            since = (held or {}).get("started_at") or (held or {}).get("queued_at") or "?"
            verb = "running" if (held or {}).get("started_at") else "queued"
            return False, (
                f"{periodic_task.name} is already {verb} since {since} "
                f"({selectors.lock_holder_text(held)}); this run was skipped and recorded."
            )
    else:
        result = task.apply_async(args, kwargs, **options)
        run_record_queued(
            task_name=task.name,
            periodic_task_id=periodic_task.pk,
            trigger=TaskRun.Trigger.MANUAL,
            queued_by=username,
            celery_task_id=result.id,
        )
    schedule_change_record(
        action=ScheduleChange.Action.RUN_NOW,
        obj=periodic_task,
        user=user,
        source=source,
        after={"celery_task_id": result.id},
    )
    return True, f"{periodic_task.name} queued now (Celery task {result.id})."


def periodic_task_lock_release(
    *, periodic_task_id: int, user, source: str = SOURCE_ADMIN
) -> dict[str, Any] | None:
    """Release the overlap lock of a periodic task's job; returns the holder it had."""
    periodic_task = PeriodicTask.objects.get(pk=periodic_task_id)
    task, key = selectors.periodic_task_lock_key(periodic_task)
    holder = selectors.periodic_task_lock_holder(periodic_task)
    if task is None or holder is None:
        return None
    lock_release(task, key)
    schedule_change_record(
        action=ScheduleChange.Action.LOCK_RELEASED,
        obj=periodic_task,
        user=user,
        source=source,
        before={key: value for key, value in holder.items() if key != "key"},
        after=None,
    )
    return holder
