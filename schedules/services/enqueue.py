"""Sending a run of a periodic task through its overlap lock (celery-once).

`PeriodicOnceTask.apply_async` delegates here: take the lock (or record the run as
skipped, naming the holder), write the holder record next to it, record the run as
queued, then publish. A run that could not be published leaves no lock behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import states
from celery.result import EagerResult
from celery.utils import uuid
from celery_once import AlreadyQueued
from django.utils import timezone

from schedules import selectors
from schedules.locks import lock_holder_read, lock_holder_write, lock_release
from schedules.models import TaskRun
from schedules.services.runs import run_record_finished, run_record_queued, run_record_skipped

# Options our apply_async understands; popped so they never reach the broker.
TRIGGER_OPTION = "schedules_trigger"
QUEUED_BY_OPTION = "schedules_queued_by"
PERIODIC_TASK_ID_OPTION = "schedules_periodic_task_id"


def periodic_run_enqueue(
    *,
    task,
    args: Any,
    kwargs: Any,
    options: dict[str, Any],
    publish: Callable[..., Any],
):
    """Lock, record and publish one run of a celery-once task; `publish(args, kwargs,
    **options)` sends the message. Returns its AsyncResult, or an EagerResult with no
    id (state REJECTED) for a graceful refusal."""
    trigger = options.pop(TRIGGER_OPTION, None)
    queued_by = options.pop(QUEUED_BY_OPTION, "") or ""
    periodic_task_id = options.pop(PERIODIC_TASK_ID_OPTION, None)
    once_options = options.pop("once", None) or {}
    headers = options.get("headers") or {}
    periodic_task_name = headers.get("periodic_task_name") or options.get("periodic_task_name")
    if trigger is None:
        beat_sent = headers.get("celery_beat_task") or periodic_task_name
        trigger = TaskRun.Trigger.BEAT if beat_sent else TaskRun.Trigger.MANUAL
    if periodic_task_id is None and periodic_task_name:
        periodic_task_id = selectors.periodic_task_id_for_name(name=periodic_task_name)

    graceful = once_options.get("graceful", task.once.get("graceful", False))
    key = task.lock_key(args, kwargs)
    task_id = options.setdefault("task_id", uuid())
    timeout = task.lock_timeout(once_options, options.get("time_limit"))
    try:
        task.once_backend.raise_or_lock(key, timeout=timeout)
    except AlreadyQueued:
        run_record_skipped(
            task_name=task.name,
            periodic_task_id=periodic_task_id,
            trigger=trigger,
            queued_by=queued_by,
            celery_task_id=task_id,
            held_by=lock_holder_read(task, key),
        )
        if graceful:
            return EagerResult(None, None, states.REJECTED)  # type: ignore[arg-type]
        raise

    queued_at = timezone.now()
    lock_holder_write(
        task.lock_redis,
        key,
        {
            "celery_task_id": task_id,
            "task_name": task.name,
            "periodic_task_id": periodic_task_id,
            "trigger": trigger,
            "queued_by": queued_by,
            "queued_at": queued_at.isoformat(),
            "started_at": None,
            "worker": "",
        },
        timeout_ms=timeout * 1000,
    )
    try:
        run_record_queued(
            task_name=task.name,
            periodic_task_id=periodic_task_id,
            trigger=trigger,
            queued_by=queued_by,
            celery_task_id=task_id,
            queued_at=queued_at,
            time_limit=options.get("time_limit") or task.hard_time_limit(),
        )
        return publish(args, kwargs, **options)
    except Exception as exc:
        # Never leave a lock behind for a run that was not sent.
        lock_release(task, key, celery_task_id=task_id)
        run_record_finished(
            celery_task_id=task_id, status="failed", error=f"could not be queued: {exc!r}"
        )
        raise
