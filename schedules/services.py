"""Writes to schedules: periodic tasks (default schedules as code) and run history."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from schedules.defaults import default_schedule_entries
from schedules.models import ScheduleChange, ScheduleOptions, TaskRun
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


def run_history_excluded(*, task_name: str) -> bool:
    """Successful runs of these tasks are not recorded (SCHEDULES_HISTORY_EXCLUDE)."""
    return task_name in settings.SCHEDULES_HISTORY_EXCLUDE


def _holder_reason(held_by: dict[str, Any] | None) -> str:
    if not held_by or not held_by.get("celery_task_id"):
        return "previous run still holds the lock"
    verb = "running" if held_by.get("started_at") else "queued"
    since = held_by.get("started_at") or held_by.get("queued_at") or "?"
    where = f" on {held_by['worker']}" if held_by.get("worker") else ""
    who = held_by.get("queued_by") or held_by.get("trigger") or "unknown"
    via = f" ({held_by['trigger']})" if held_by.get("queued_by") and held_by.get("trigger") else ""
    queued_at = f" at {held_by['queued_at']}" if held_by.get("queued_at") else ""
    return (
        f"previous run {held_by['celery_task_id']} still holds the lock: {verb} since "
        f"{since}{where}, queued by {who}{via}{queued_at}"
    )


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
    time_limit: float | None = None,
) -> TaskRun | None:
    """A run was sent to the broker (beat or manual); None for an excluded task."""
    if run_history_excluded(task_name=task_name) and trigger != TaskRun.Trigger.MANUAL:
        return None
    values: dict[str, Any] = {
        "task_name": task_name,
        "periodic_task_id": periodic_task_id,
        "trigger": trigger,
        "queued_by": queued_by,
        "queued_at": queued_at or _now(),
    }
    if time_limit:
        values["time_limit"] = int(time_limit)
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
    """The overlap lock refused a run: record it and tell listeners (ops).

    The row's error names the holder (Celery task id, running/queued since, worker,
    who queued it), so the admin shows why runs were skipped while a dead run's lock
    waits out its time-out.
    """
    reason = _holder_reason(held_by)
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
    *,
    celery_task_id: str,
    task_name: str,
    worker: str,
    periodic_task_name: str | None,
    time_limit: float | None = None,
) -> None:
    """A worker started a run. Also a redelivered message (same celery_task_id): a row
    the reaper marked failed as lost comes back to life as started, outcome cleared."""
    now = _now()
    started: dict[str, Any] = {
        "status": TaskRun.Status.STARTED,
        "started_at": now,
        "worker": worker,
        "error": "",
        "finished_at": None,
        "duration": None,
    }
    if time_limit:
        started["time_limit"] = int(time_limit)
    updated = TaskRun.objects.filter(celery_task_id=celery_task_id).update(**started)
    if updated or run_history_excluded(task_name=task_name):
        return
    # Sent without going through PeriodicOnceTask.apply_async (a plain task beat sent,
    # or a redelivered message whose row was never written): start a row here.
    _late_run_row_create(
        celery_task_id=celery_task_id,
        task_name=task_name,
        periodic_task_name=periodic_task_name,
        fields={"queued_at": now, **started},
        on_conflict_update=started,
    )


def _late_run_row_create(
    *,
    celery_task_id: str,
    task_name: str,
    periodic_task_name: str | None,
    fields: dict[str, Any],
    on_conflict_update: dict[str, Any] | None,
) -> None:
    """A row for a run first seen at its start or end; if another receiver wrote it in
    the meantime, apply `on_conflict_update` to that row (or keep it as it is)."""
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
                **fields,
            )
    except IntegrityError:
        if on_conflict_update:
            TaskRun.objects.filter(celery_task_id=celery_task_id).update(**on_conflict_update)


def _excluded_run_create(
    *,
    celery_task_id: str,
    task_name: str,
    status: str,
    error: str,
    started_at: datetime | None,
    worker: str,
    periodic_task_name: str | None,
) -> None:
    """An excluded task's failure, or its first success after a failure, gets a row.

    Recording the success after a failure keeps "N failures in a row" (ops' alert)
    exact: two adjacent recorded failures had no success between them.
    """
    if status == TaskRun.Status.RETRIED:
        return
    if status == TaskRun.Status.SUCCEEDED:
        last = (
            TaskRun.objects.filter(task_name=task_name)
            .exclude(status__in=[TaskRun.Status.SKIPPED, TaskRun.Status.MISSED])
            .order_by("-queued_at", "-id")
            .values_list("status", flat=True)
            .first()
        )
        if last != TaskRun.Status.FAILED:
            return
    now = _now()
    _late_run_row_create(
        celery_task_id=celery_task_id,
        task_name=task_name,
        periodic_task_name=periodic_task_name,
        fields={
            "status": status,
            "queued_at": started_at or now,
            "started_at": started_at,
            "finished_at": now,
            "duration": now - started_at if started_at else None,
            "worker": worker,
            "error": error[:10000],
        },
        # The same outcome was recorded already (task_failure after task_postrun).
        on_conflict_update=None,
    )


def run_record_finished(
    *,
    celery_task_id: str,
    status: str,
    error: str = "",
    task_name: str = "",
    started_at: datetime | None = None,
    worker: str = "",
    periodic_task_name: str | None = None,
) -> None:
    """Success, failure or retry of a run, matched by its Celery task id.

    A run the reaper marked failed as lost still gets its real outcome when it
    arrives late. task_name and the rest are only used for an excluded task, whose
    run has no row yet.
    """
    now = _now()
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().filter(celery_task_id=celery_task_id).first()
        if run is None:
            if task_name and run_history_excluded(task_name=task_name):
                _excluded_run_create(
                    celery_task_id=celery_task_id,
                    task_name=task_name,
                    status=status,
                    error=error,
                    started_at=started_at,
                    worker=worker,
                    periodic_task_name=periodic_task_name,
                )
            return
        reaped_outcome = run.reaped_at is not None and run.finished_at == run.reaped_at
        if (
            run.status in (TaskRun.Status.SUCCEEDED, TaskRun.Status.FAILED)
            and status == TaskRun.Status.FAILED
            and not reaped_outcome
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


# --- lost runs and retention ----------------------------------------------------------


def _registered_time_limits() -> dict[str, int]:
    from schedules.selectors import registered_tasks

    limits = {}
    for name, task in registered_tasks().items():
        if getattr(task, "time_limit", None):
            limits[name] = int(task.time_limit)
    return limits


def runs_lost_reap(*, now: datetime | None = None) -> dict[str, int]:
    """Mark runs failed whose worker died (started) or whose message was lost (queued).

    A started run is lost once its hard time limit plus SCHEDULES_LOCK_MARGIN_SECONDS
    has passed since it started: Celery would have killed it at the limit and the
    pool's parent recorded the failure, so a run still "started" then has no worker
    left. A queued run gets SCHEDULES_QUEUE_WAIT_SECONDS on top. One UPDATE for each;
    the WHERE is re-checked under the row lock, so a run whose outcome commits
    meanwhile is left alone. Idempotent: a second call finds nothing.
    """
    now = now or _now()
    margin = int(settings.SCHEDULES_LOCK_MARGIN_SECONDS)
    wait = int(settings.SCHEDULES_QUEUE_WAIT_SECONDS)
    default_limit = int(settings.CELERY_TASK_TIME_LIMIT)
    by_task = [
        When(task_name=name, then=Value(limit))
        for name, limit in sorted(_registered_time_limits().items())
        if limit != default_limit
    ]
    limit = Coalesce(
        F("time_limit"),
        Case(*by_task, default=Value(default_limit), output_field=IntegerField())
        if by_task
        else Value(default_limit),
        output_field=IntegerField(),
    )
    counts: dict[str, int] = {}
    lost = TaskRun.objects.filter(
        status=TaskRun.Status.STARTED, started_at__lt=_deadline(now, limit, margin)
    )
    counts["started"] = lost.update(
        status=TaskRun.Status.FAILED,
        finished_at=now,
        reaped_at=now,
        duration=ExpressionWrapper(Value(now) - F("started_at"), output_field=DurationField()),
        error=Concat(
            Value(f"worker lost: no result within {margin} s of the "),
            Cast(limit, CharField()),
            Value(" s hard time limit (started at "),
            Cast("started_at", CharField()),
            Value(", worker "),
            F("worker"),
            Value(")"),
            output_field=CharField(),
        ),
    )
    never = TaskRun.objects.filter(
        status=TaskRun.Status.QUEUED, queued_at__lt=_deadline(now, limit, margin + wait)
    )
    counts["queued"] = never.update(
        status=TaskRun.Status.FAILED,
        finished_at=now,
        reaped_at=now,
        error=Concat(
            Value("worker lost: never started within "),
            Cast(limit + Value(margin + wait), CharField()),
            Value(" s of being queued (message lost, or no worker consumes its queue)"),
            output_field=CharField(),
        ),
    )
    if counts["started"] or counts["queued"]:
        logger.warning("schedules: marked lost runs failed: %s", counts)
    return counts


def _deadline(now: datetime, limit, extra: int) -> ExpressionWrapper:
    """now - (limit + extra) seconds, as SQL over each row's own limit."""
    seconds = ExpressionWrapper(
        (limit + Value(extra)) * Value(timedelta(seconds=1), output_field=DurationField()),
        output_field=DurationField(),
    )
    return ExpressionWrapper(Value(now) - seconds, output_field=DateTimeField())


def history_prune(*, now: datetime | None = None, batch_size: int = 10_000) -> dict[str, int]:
    """Delete runs older than SCHEDULES_HISTORY_DAYS and audit rows older than
    SCHEDULES_AUDIT_DAYS, a bounded batch per statement so no delete holds locks for
    long or bloats one transaction. Idempotent."""
    now = now or _now()
    counts: dict[str, int] = {}
    for label, model, field, days in (
        ("runs", TaskRun, "queued_at", settings.SCHEDULES_HISTORY_DAYS),
        ("changes", ScheduleChange, "changed_at", settings.SCHEDULES_AUDIT_DAYS),
    ):
        cutoff = now - timedelta(days=days)
        deleted = 0
        while True:
            batch = (
                model.objects.filter(**{f"{field}__lt": cutoff})
                .order_by(field)
                .values("pk")[:batch_size]
            )
            # DELETE ... WHERE id IN (SELECT id ... LIMIT n): nothing references these rows.
            count, _ = model.objects.filter(pk__in=batch).delete()  # type: ignore[misc]
            deleted += count
            if count < batch_size:
                break
        counts[label] = deleted
    return counts


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
