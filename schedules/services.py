"""Writes to schedules: periodic tasks (default schedules as code) and run history."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from schedules.defaults import default_schedule_entries
from schedules.models import ScheduleOptions, TaskRun
from schedules.signals import periodic_run_skipped

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


# --- default schedules as code ------------------------------------------------------


def _schedule_for(entry: dict[str, Any]) -> dict[str, Any]:
    if "interval" in entry:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(entry["interval"]), period=IntervalSchedule.SECONDS
        )
        return {"interval": interval, "crontab": None}
    minute, hour, day_of_month, month_of_year, day_of_week = entry["crontab"].split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=entry.get("timezone", "UTC"),
    )
    return {"crontab": crontab, "interval": None}


@transaction.atomic
def default_schedules_sync(*, entries: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Create or update the platform's periodic tasks by name; idempotent."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for entry in default_schedule_entries() if entries is None else entries:
        wanted = {
            "task": entry["task"],
            "kwargs": json.dumps(entry.get("kwargs", {}), sort_keys=True),
            "queue": entry.get("queue"),
            "description": entry.get("description", ""),
            **_schedule_for(entry),
        }
        task = PeriodicTask.objects.filter(name=entry["name"]).first()
        if task is None:
            task = PeriodicTask.objects.create(name=entry["name"], **wanted)
            counts["created"] += 1
        else:
            changed = [field for field, value in wanted.items() if getattr(task, field) != value]
            if changed:
                for field in changed:
                    setattr(task, field, wanted[field])
                # Only the changed fields: an admin's enabled flag and last_run_at stay.
                task.save(update_fields=changed)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        options, created = ScheduleOptions.objects.get_or_create(
            periodic_task=task,
            defaults={
                "platform_owned": True,
                "catch_up": entry.get("catch_up", ScheduleOptions.CatchUp.RUN_ONCE),
            },
        )
        if not created and (
            not options.platform_owned
            or ("catch_up" in entry and options.catch_up != entry["catch_up"])
        ):
            options.platform_owned = True
            options.catch_up = entry.get("catch_up", options.catch_up)
            options.save(update_fields=["platform_owned", "catch_up"])
    return counts


# --- run history -----------------------------------------------------------------------


def periodic_task_id_for_name(*, name: str) -> int | None:
    return PeriodicTask.objects.filter(name=name).values_list("id", flat=True).first()


def run_record_queued(
    *,
    task_name: str,
    periodic_task_id: int | None,
    trigger: str,
    queued_by: str = "",
    celery_task_id: str,
    queued_at: datetime | None = None,
) -> TaskRun:
    """A run was sent to the broker (beat or manual)."""
    values = {
        "task_name": task_name,
        "periodic_task_id": periodic_task_id,
        "trigger": trigger,
        "queued_by": queued_by,
        "queued_at": queued_at or _now(),
    }
    try:
        with transaction.atomic():
            return TaskRun.objects.create(
                celery_task_id=celery_task_id, status=TaskRun.Status.QUEUED, **values
            )
    except IntegrityError:
        # The worker was faster and already wrote the row: add what only we know.
        TaskRun.objects.filter(celery_task_id=celery_task_id).update(**values)
        return TaskRun.objects.get(celery_task_id=celery_task_id)


def run_record_skipped(
    *,
    task_name: str,
    periodic_task_id: int | None,
    trigger: str,
    queued_by: str = "",
    celery_task_id: str | None = None,
    held_by: dict[str, Any] | None = None,
) -> TaskRun:
    """The overlap lock refused a run: record it and tell listeners (ops)."""
    if held_by and held_by.get("celery_task_id"):
        since = held_by.get("started_at") or held_by.get("queued_at") or "?"
        verb = "running" if held_by.get("started_at") else "queued"
        reason = (
            f"previous run {held_by['celery_task_id']} still holds the lock "
            f"({verb} since {since}, by {held_by.get('queued_by') or held_by.get('trigger')})"
        )
    else:
        reason = "previous run still holds the lock"
    run = TaskRun.objects.create(
        task_name=task_name,
        periodic_task_id=periodic_task_id,
        status=TaskRun.Status.SKIPPED,
        trigger=trigger,
        queued_by=queued_by,
        queued_at=_now(),
        finished_at=_now(),
        error=reason,
    )
    periodic_run_skipped.send(
        sender=TaskRun,
        task_name=task_name,
        periodic_task_id=periodic_task_id,
        celery_task_id=celery_task_id,
        reason=reason,
        held_by=held_by,
    )
    return run


def run_record_missed(
    *, task_name: str, periodic_task_id: int | None, due_at: datetime, missed: int, reason: str
) -> TaskRun:
    """Catch-up policy "skip" dropped due times that passed while beat was down."""
    return TaskRun.objects.create(
        task_name=task_name,
        periodic_task_id=periodic_task_id,
        status=TaskRun.Status.MISSED,
        trigger=TaskRun.Trigger.BEAT,
        queued_at=_now(),
        finished_at=_now(),
        error=f"{missed} due time(s) missed from {due_at.isoformat()}: {reason}",
    )


def run_record_started(
    *, celery_task_id: str, task_name: str, worker: str, periodic_task_name: str | None
) -> None:
    now = _now()
    updated = TaskRun.objects.filter(celery_task_id=celery_task_id).update(
        status=TaskRun.Status.STARTED, started_at=now, worker=worker, error=""
    )
    if updated:
        return
    # Sent without going through PeriodicOnceTask.apply_async (a plain task beat sent,
    # or a redelivered message whose row was never written): start a row here.
    periodic_task_id = (
        periodic_task_id_for_name(name=periodic_task_name) if periodic_task_name else None
    )
    try:
        with transaction.atomic():
            TaskRun.objects.create(
                celery_task_id=celery_task_id,
                task_name=task_name,
                periodic_task_id=periodic_task_id,
                trigger=TaskRun.Trigger.BEAT if periodic_task_name else TaskRun.Trigger.MANUAL,
                status=TaskRun.Status.STARTED,
                queued_at=now,
                started_at=now,
                worker=worker,
            )
    except IntegrityError:
        TaskRun.objects.filter(celery_task_id=celery_task_id).update(
            status=TaskRun.Status.STARTED, started_at=now, worker=worker
        )


def run_record_finished(*, celery_task_id: str, status: str, error: str = "") -> None:
    """Success, failure or retry of a run, matched by its Celery task id."""
    now = _now()
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().filter(celery_task_id=celery_task_id).first()
        if run is None:
            return
        if run.status in (TaskRun.Status.SUCCEEDED, TaskRun.Status.FAILED) and (
            status == TaskRun.Status.FAILED
        ):
            return  # the outcome is already recorded (task_failure after task_postrun)
        run.status = status
        run.error = error[:10000]
        if status == TaskRun.Status.RETRIED:
            run.save(update_fields=["status", "error"])
            return
        run.finished_at = now
        run.duration = now - run.started_at if run.started_at else None
        run.save(update_fields=["status", "error", "finished_at", "duration"])


# --- admin operations: pause, resume, run now, release lock, audit ---------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def schedule_snapshot(obj) -> dict[str, Any]:
    """The editable fields of a schedule object as JSON, for the audit trail."""
    from django.forms.models import model_to_dict

    data = model_to_dict(obj)
    data.pop("id", None)
    snapshot = {key: _jsonable(value) for key, value in data.items()}
    if isinstance(obj, PeriodicTask):
        options = ScheduleOptions.objects.filter(periodic_task_id=obj.pk).first()
        if options is not None:
            snapshot["catch_up"] = options.catch_up
    return snapshot


def schedule_change_record(
    *,
    user,
    action: str,
    obj,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
):
    from schedules.models import ScheduleChange

    return ScheduleChange.objects.create(
        user=user if getattr(user, "pk", None) else None,
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        periodic_task=obj if isinstance(obj, PeriodicTask) and obj.pk else None,
        before=before,
        after=after,
    )


@transaction.atomic
def periodic_task_options_set(*, periodic_task: PeriodicTask, catch_up: str) -> ScheduleOptions:
    options, _ = ScheduleOptions.objects.update_or_create(
        periodic_task=periodic_task, defaults={"catch_up": catch_up}
    )
    return options


@transaction.atomic
def periodic_tasks_pause(*, periodic_task_ids: list[int], user) -> int:
    paused = 0
    for task in PeriodicTask.objects.select_for_update().filter(
        pk__in=periodic_task_ids, enabled=True
    ):
        before = schedule_snapshot(task)
        task.enabled = False
        task.save()  # signals PeriodicTasks.changed: the running beat reloads
        schedule_change_record(
            user=user, action="paused", obj=task, before=before, after=schedule_snapshot(task)
        )
        paused += 1
    return paused


@transaction.atomic
def periodic_tasks_resume(*, periodic_task_ids: list[int], user) -> int:
    resumed = 0
    for task in PeriodicTask.objects.select_for_update().filter(
        pk__in=periodic_task_ids, enabled=False
    ):
        before = schedule_snapshot(task)
        task.enabled = True
        # Time spent paused is not downtime: count the schedule from now, so resuming
        # does not fire a catch-up run for the paused period.
        task.last_run_at = _now()
        task.save()
        schedule_change_record(
            user=user, action="resumed", obj=task, before=before, after=schedule_snapshot(task)
        )
        resumed += 1
    return resumed


def periodic_task_run_now(*, periodic_task_id: int, user) -> tuple[bool, str]:
    """Queue a periodic task now through the same lock and history as beat.

    Returns (queued, message); a run refused by the lock is recorded as skipped.
    """
    from schedules.locking import (
        PERIODIC_TASK_ID_OPTION,
        QUEUED_BY_OPTION,
        TRIGGER_OPTION,
        PeriodicOnceTask,
    )
    from schedules.selectors import lock_holder_text, periodic_task_lock_holder, registered_tasks

    periodic_task = PeriodicTask.objects.get(pk=periodic_task_id)
    task = registered_tasks().get(periodic_task.task)
    if task is None:
        return False, f"{periodic_task.name}: task {periodic_task.task!r} is not registered"
    args = json.loads(periodic_task.args or "[]")
    kwargs = json.loads(periodic_task.kwargs or "{}")
    options: dict[str, Any] = {"headers": {"periodic_task_name": periodic_task.name}}
    if periodic_task.queue:
        options["queue"] = periodic_task.queue
    username = getattr(user, "get_username", lambda: "")()
    if isinstance(task, PeriodicOnceTask):
        options.update(
            {
                TRIGGER_OPTION: TaskRun.Trigger.MANUAL,
                QUEUED_BY_OPTION: username,
                PERIODIC_TASK_ID_OPTION: periodic_task.pk,
            }
        )
        holder_before = periodic_task_lock_holder(periodic_task)
        result = task.apply_async(args, kwargs, **options)
        if result.id is None:  # refused by the lock
            held = holder_before or periodic_task_lock_holder(periodic_task)
            since = (held or {}).get("started_at") or (held or {}).get("queued_at") or "?"
            verb = "running" if (held or {}).get("started_at") else "queued"
            return False, (
                f"{periodic_task.name} is already {verb} since {since} "
                f"({lock_holder_text(held)}); this run was skipped and recorded."
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
        user=user, action="run_now", obj=periodic_task, after={"celery_task_id": result.id}
    )
    return True, f"{periodic_task.name} queued now (Celery task {result.id})."


def periodic_task_lock_release(*, periodic_task_id: int, user) -> dict[str, Any] | None:
    """Release the overlap lock of a periodic task's job; returns the holder it had."""
    from schedules.locking import lock_release
    from schedules.selectors import periodic_task_lock_holder, periodic_task_lock_key

    periodic_task = PeriodicTask.objects.get(pk=periodic_task_id)
    task, key = periodic_task_lock_key(periodic_task)
    holder = periodic_task_lock_holder(periodic_task)
    if task is None or holder is None:
        return None
    lock_release(task, key)
    schedule_change_record(
        user=user,
        action="lock_released",
        obj=periodic_task,
        before={key: value for key, value in holder.items() if key != "key"},
        after=None,
    )
    return holder
