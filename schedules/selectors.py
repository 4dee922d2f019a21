"""Reads for schedules: the recent runs of periodic tasks, registered tasks, overlap
policies and lock holders."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet
from django.db.models.functions import JSONObject
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from schedules.locks import lock_holder_read, lock_key
from schedules.models import ScheduleOptions, TaskRun

RUN_STRIP_LENGTH = 20


@dataclass(frozen=True)
class RunMark:
    """One run in a periodic task's strip of recent runs."""

    id: int
    status: str
    queued_at: datetime | None


def periodic_tasks_with_recent_runs(
    queryset: QuerySet[PeriodicTask], *, limit: int = RUN_STRIP_LENGTH
) -> QuerySet[PeriodicTask]:
    """Each task with its last `limit` runs, in the query that loads the tasks.

    `ARRAY(SELECT ... ORDER BY queued_at DESC LIMIT n)` per task reads its newest runs
    from the (periodic_task, -queued_at) index and stops at `limit`: the page costs the
    queries it did before the strips, whatever the history holds.
    """
    runs = (
        TaskRun.objects.filter(periodic_task=OuterRef("pk"))
        .order_by("-queued_at", "-id")
        .values(mark=JSONObject(id="id", status="status", queued_at="queued_at"))[:limit]
    )
    return queryset.annotate(recent_run_marks=ArraySubquery(runs))


def run_marks(periodic_task: PeriodicTask) -> list[RunMark]:
    """The runs `periodic_tasks_with_recent_runs` loaded, oldest first."""
    marks = getattr(periodic_task, "recent_run_marks", None) or []
    return [
        RunMark(
            id=mark["id"],
            status=mark["status"],
            queued_at=datetime.fromisoformat(mark["queued_at"]) if mark["queued_at"] else None,
        )
        for mark in reversed(marks)
    ]


_task_modules_imported = False


def registered_tasks() -> dict[str, Any]:
    """Task name -> task, after every installed app's tasks module is imported.

    Imported once per process: Celery's Django fix-up runs django.setup() (which
    reconfigures logging) and every system check on each import_default_modules()."""
    global _task_modules_imported
    if not _task_modules_imported:
        current_app.loader.import_default_modules()
        _task_modules_imported = True
    return {
        name: task for name, task in current_app.tasks.items() if not name.startswith("celery.")
    }


def task_signature(task) -> inspect.Signature:
    signature = inspect.signature(task.run)
    if getattr(task, "bind", False) or next(iter(signature.parameters), None) == "self":
        parameters = list(signature.parameters.values())
        if parameters and parameters[0].name == "self":
            signature = signature.replace(parameters=parameters[1:])
    return signature


def periodic_task_id_for_name(*, name: str) -> int | None:
    return PeriodicTask.objects.filter(name=name).values_list("id", flat=True).first()


def periodic_task_overlap_policy(*, periodic_task_id: int | None) -> str:
    """The schedule's overlap policy; skip for a task without options or no schedule."""
    policy = None
    if periodic_task_id is not None:
        policy = (
            ScheduleOptions.objects.filter(periodic_task_id=periodic_task_id)
            .values_list("overlap", flat=True)
            .first()
        )
    return policy or ScheduleOptions.Overlap.SKIP


def periodic_task_lock_key(periodic_task: PeriodicTask) -> str | None:
    """The overlap lock of this periodic task's job (task + arguments), or None when its
    policy is allow or its arguments no longer bind to the task."""
    if periodic_task_overlap_policy(periodic_task_id=periodic_task.pk) == "allow":
        return None
    args = json.loads(periodic_task.args or "[]")
    kwargs = json.loads(periodic_task.kwargs or "{}")
    try:
        return lock_key(
            registered_tasks().get(periodic_task.task), periodic_task.task, args, kwargs
        )
    except TypeError:
        return None


def periodic_task_lock_holder(periodic_task: PeriodicTask) -> dict[str, Any] | None:
    """Who holds the overlap lock of this periodic task's job (and who waits), or None."""
    key = periodic_task_lock_key(periodic_task)
    return lock_holder_read(key) if key else None


def lock_holder_text(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "not locked"
    since = holder.get("started_at") or holder.get("queued_at")
    verb = "running" if holder.get("started_at") else "queued"
    who = holder.get("queued_by") or holder.get("trigger") or "unknown"
    where = f" on {holder['worker']}" if holder.get("worker") else ""
    expires = holder.get("expires_in")
    waiting = holder.get("waiting")
    behind = (
        f"; run {waiting.get('celery_task_id')} waits behind it (queued at "
        f"{waiting.get('queued_at')}, by {waiting.get('queued_by') or waiting.get('trigger')})"
        if waiting
        else ""
    )
    return (
        f"held by run {holder.get('celery_task_id') or '(unknown)'}, {verb} since {since}{where}, "
        f"queued by {who}; the lock expires in {expires} s{behind}"
    )


def periodic_run_running_besides(
    *, periodic_task_name: str, celery_task_id: str, seconds: float
) -> TaskRun | None:
    """Another run of the schedule recorded *started* within the last `seconds` (its
    lock's lifetime): PostgreSQL's word that it still runs, whatever Redis says."""
    return (
        TaskRun.objects.filter(
            periodic_task__name=periodic_task_name,
            status=TaskRun.Status.STARTED,
            started_at__gt=timezone.now() - timedelta(seconds=seconds),
        )
        .exclude(celery_task_id=celery_task_id)
        .order_by("started_at")
        .first()
    )
