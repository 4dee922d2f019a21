"""A standard-API task's result, kept where Celery keeps its results (the result
backend, CELERY_RESULT_BACKEND, for CELERY_RESULT_EXPIRES), as one JSON record per
run under `tasks-backend-result-<id>`; the id is the run's Celery task id.

Written three times: when the run is sent (READY, before the message is published:
by the backend's enqueue, or by the Celery task's apply_async for a run that beat or
*Run now* sent by name), when a worker starts it (RUNNING) and when it ends
(SUCCESSFUL or FAILED; the pool's parent writes a hard time limit or a lost child).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from schedules.tasks_backend import api

KEY_PREFIX = "tasks-backend-result-"
WORKER_LOST = "billiard.exceptions.WorkerLostError"


def _key(result_id: str) -> str:
    return f"{KEY_PREFIX}{result_id}"


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parsed(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def record_for(result: api.TaskResult) -> dict[str, Any]:
    """The JSON record of a result (the task is kept as its import path and options)."""
    task = result.task
    record = {
        "task": task.module_path,
        "queue_name": task.queue_name,
        "priority": task.priority,
        "run_after": _when(task.run_after),
        "backend": result.backend,
        "status": str(result.status),
        "args": result.args,
        "kwargs": result.kwargs,
        "enqueued_at": _when(result.enqueued_at),
        "started_at": _when(result.started_at),
        "finished_at": _when(result.finished_at),
        "last_attempted_at": _when(result.last_attempted_at),
        "worker_ids": list(result.worker_ids),
        "errors": [
            {"exception_class_path": error.exception_class_path, "traceback": error.traceback}
            for error in result.errors
        ],
        "return_value": (
            result.return_value if result.status == api.TaskResultStatus.SUCCESSFUL else None
        ),
    }
    return record


def result_from(record: dict[str, Any], *, time_limit: float | None = None) -> api.TaskResult:
    """The TaskResult a record describes, its Task as it was enqueued (queue, priority,
    run_after), as Django's own database backend rebuilds it."""
    task = import_string(record["task"])
    if not isinstance(task, api.Task):
        raise api.TaskResultDoesNotExist(
            f"{record['task']} is no longer a task (result of an earlier deployment?)"
        )
    task = task.using(
        queue_name=record["queue_name"],
        priority=record["priority"],
        run_after=_parsed(record["run_after"]),
        backend=record["backend"],
    )
    result: api.TaskResult = api.TaskResult(
        task=task,
        id=record["id"],
        status=api.TaskResultStatus(record["status"]),
        enqueued_at=_parsed(record["enqueued_at"]),
        started_at=_parsed(record["started_at"]),
        finished_at=_parsed(record["finished_at"]),
        last_attempted_at=_parsed(record["last_attempted_at"]),
        args=record["args"],
        kwargs=record["kwargs"],
        backend=record["backend"],
        errors=[api.TaskError(**error) for error in record["errors"]],
        worker_ids=record["worker_ids"],
    )
    object.__setattr__(result, "_return_value", record.get("return_value"))
    return result


def record_write(result_id: str, record: dict[str, Any]) -> None:
    backend: Any = current_app.backend
    value = json.dumps({**record, "id": result_id})
    client = getattr(backend, "client", None)
    if client is not None and backend.expires:
        # Redis: one SETEX (the generic set() also publishes, for result consumers
        # this record has none of).
        client.setex(_key(result_id), int(backend.expires), value)
    else:
        backend.set(_key(result_id), value)


def record_read(result_id: str) -> dict[str, Any] | None:
    backend: Any = current_app.backend
    raw = backend.get(_key(result_id))
    if not raw:
        return None
    record = json.loads(raw)
    return _lost_run_failed(record)


def _lost_run_failed(record: dict[str, Any]) -> dict[str, Any]:
    """A run still RUNNING past its hard time limit plus SCHEDULES_LOCK_MARGIN_SECONDS
    has no worker left (killed as a whole: nothing else would say so); reported
    FAILED as the run history's reaper reports it (schedules.services.reaper)."""
    started = _parsed(record.get("started_at"))
    limit = record.get("time_limit")
    if record.get("status") != str(api.TaskResultStatus.RUNNING) or not started or not limit:
        return record
    margin = int(settings.SCHEDULES_LOCK_MARGIN_SECONDS)
    if timezone.now() < started + timedelta(seconds=limit + margin):
        return record
    return record_failed(
        record,
        exception_class_path=WORKER_LOST,
        traceback=(
            f"{WORKER_LOST}: worker lost: no result within {margin} s of the {int(limit)} s "
            f"hard time limit (started at {record['started_at']}, worker "
            f"{(record.get('worker_ids') or ['?'])[-1]})\n"
        ),
    )


def record_failed(
    record: dict[str, Any], *, exception_class_path: str, traceback: str
) -> dict[str, Any]:
    """The record of a run that failed (its errors keep earlier attempts' errors)."""
    now = timezone.now().isoformat()
    return {
        **record,
        "status": str(api.TaskResultStatus.FAILED),
        "finished_at": now,
        "errors": [
            *record.get("errors", []),
            {"exception_class_path": exception_class_path, "traceback": traceback},
        ],
        "return_value": None,
    }
