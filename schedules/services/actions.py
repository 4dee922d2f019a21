"""What an admin does to a periodic task: pause, resume, run now, release its lock.

Each is audited through `schedules.services.audit`, naming the user and the source.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from schedules import selectors
from schedules.models import ScheduleChange, TaskRun
from schedules.services.audit import (
    SOURCE_ADMIN,
    failure_pause_end,
    schedule_change_record,
    schedule_snapshot,
)
from schedules.services.overlap import periodic_run_release, periodic_run_send


@transaction.atomic
def _periodic_tasks_set_enabled(
    *, periodic_task_ids: list[int], enabled: bool, user, source: str, note: str = ""
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
        if enabled:
            failure_pause_end(periodic_task=task)
        after = schedule_snapshot(task)
        if note:
            after["note"] = note
        schedule_change_record(
            action=ScheduleChange.Action.RESUMED if enabled else ScheduleChange.Action.PAUSED,
            obj=task,
            user=user,
            source=source,
            before=before,
            after=after,
        )
        count += 1
    return count


def periodic_tasks_pause(
    *, periodic_task_ids: list[int], user=None, source: str = SOURCE_ADMIN, note: str = ""
) -> int:
    return _periodic_tasks_set_enabled(
        periodic_task_ids=periodic_task_ids, enabled=False, user=user, source=source, note=note
    )


def periodic_tasks_resume(
    *, periodic_task_ids: list[int], user=None, source: str = SOURCE_ADMIN
) -> int:
    """Enable the tasks again; a pause on failure ends (its ops alert resolves)."""
    return _periodic_tasks_set_enabled(
        periodic_task_ids=periodic_task_ids, enabled=True, user=user, source=source
    )


def _since(held: dict[str, Any] | None) -> tuple[str, str]:
    held = held or {}
    verb = "running" if held.get("started_at") else "queued"
    return verb, held.get("started_at") or held.get("queued_at") or "?"


def periodic_task_run_now(
    *, periodic_task_id: int, user, source: str = SOURCE_ADMIN
) -> tuple[bool, str]:
    """Send a periodic task now through the same overlap policy and history as beat,
    whatever the task's class. Returns (sent or waiting, message for the user); a run
    refused by the lock is recorded as skipped."""
    periodic_task = PeriodicTask.objects.get(pk=periodic_task_id)
    if periodic_task.task not in selectors.registered_tasks():
        return False, f"{periodic_task.name}: task {periodic_task.task!r} is not registered"
    options: dict[str, Any] = {"headers": {"periodic_task_name": periodic_task.name}}
    if periodic_task.queue:
        options["queue"] = periodic_task.queue
    outcome = periodic_run_send(
        task_name=periodic_task.task,
        args=json.loads(periodic_task.args or "[]"),
        kwargs=json.loads(periodic_task.kwargs or "{}"),
        options=options,
        trigger=TaskRun.Trigger.MANUAL,
        queued_by=getattr(user, "get_username", lambda: "")(),
        periodic_task_id=periodic_task.pk,
    )
    name = periodic_task.name
    if outcome.status == "skipped":
        held = selectors.periodic_task_lock_holder(periodic_task) or outcome.holder
        verb, since = _since(held)
        return False, (
            f"{name} is already {verb} since {since} "
            f"({selectors.lock_holder_text(held)}); this run was skipped and recorded."
        )
    schedule_change_record(
        action=ScheduleChange.Action.RUN_NOW,
        obj=periodic_task,
        user=user,
        source=source,
        after={"celery_task_id": outcome.celery_task_id, "status": outcome.status},
    )
    if outcome.status == "waiting":
        verb, since = _since(outcome.holder)
        return True, (
            f"{name} is {verb} since {since} (run {(outcome.holder or {}).get('celery_task_id')}); "
            f"this run (Celery task {outcome.celery_task_id}) waits behind it and starts "
            "when it finishes (overlap policy: queue one)."
        )
    return True, f"{name} queued now (Celery task {outcome.celery_task_id})."


def periodic_task_lock_release(
    *, periodic_task_id: int, user, source: str = SOURCE_ADMIN
) -> dict[str, Any] | None:
    """Release the overlap lock of a periodic task's job; returns the holder it had.
    A run waiting behind it takes the lock and is sent."""
    periodic_task = PeriodicTask.objects.get(pk=periodic_task_id)
    key = selectors.periodic_task_lock_key(periodic_task)
    holder = selectors.periodic_task_lock_holder(periodic_task)
    if key is None or holder is None:
        return None
    periodic_run_release(key=key)
    schedule_change_record(
        action=ScheduleChange.Action.LOCK_RELEASED,
        obj=periodic_task,
        user=user,
        source=source,
        before={name: value for name, value in holder.items() if name != "key"},
        after=None,
    )
    return holder
