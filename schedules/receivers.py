"""Celery signal receivers that keep the run history; connected in SchedulesConfig.ready()."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import states

from schedules.locking import PeriodicOnceTask
from schedules.models import TaskRun
from schedules.services.runs import (
    run_history_excluded,
    run_record_finished,
    run_record_started,
)

logger = logging.getLogger(__name__)

# Start times of runs of excluded tasks (SCHEDULES_HISTORY_EXCLUDE), which have no row
# unless they fail; popped when the run ends. Per worker process, so never shared.
_excluded_started: dict[str, tuple[datetime, str]] = {}


def _periodic_task_name(task) -> str | None:
    request = task.request
    name = getattr(request, "periodic_task_name", None)
    if name:
        return name
    headers = getattr(request, "headers", None) or {}
    return headers.get("periodic_task_name")


def _is_tracked(task) -> bool:
    # Only periodic work: beat-sent tasks and PeriodicOnceTask runs. Import chunks,
    # report sends and the like keep their own status rows.
    return isinstance(task, PeriodicOnceTask) or bool(_periodic_task_name(task))


def _hard_time_limit(task) -> float | None:
    # A per-call limit travels in the message as (hard, soft).
    timelimit = getattr(task.request, "timelimit", None) or (None, None)
    per_call = timelimit[0] if timelimit else None
    return per_call or task.time_limit or task.app.conf.task_time_limit


def on_task_prerun(sender=None, task_id=None, task=None, **kwargs) -> None:
    if task is None or not _is_tracked(task):
        return
    worker = task.request.hostname or ""
    if run_history_excluded(task_name=task.name):
        _excluded_started[task_id] = (datetime.now(UTC), worker)
    try:
        run_record_started(
            celery_task_id=task_id,
            task_name=task.name,
            worker=worker,
            periodic_task_name=_periodic_task_name(task),
            time_limit=_hard_time_limit(task),
        )
    except Exception:
        # History must never stop the work itself.
        logger.exception("could not record the start of %s[%s]", task.name, task_id)


def on_task_postrun(sender=None, task_id=None, task=None, retval=None, state=None, **kwargs):
    if task is None or not _is_tracked(task):
        return
    started_at, worker = _excluded_started.pop(task_id, (None, ""))
    status = {
        states.SUCCESS: TaskRun.Status.SUCCEEDED,
        states.FAILURE: TaskRun.Status.FAILED,
        states.RETRY: TaskRun.Status.RETRIED,
    }.get(state)
    if status is None:
        return
    error = "" if status == TaskRun.Status.SUCCEEDED else f"{type(retval).__name__}: {retval}"
    try:
        run_record_finished(
            celery_task_id=task_id,
            status=status,
            error=error,
            task_name=task.name,
            started_at=started_at,
            worker=worker,
            periodic_task_name=_periodic_task_name(task),
        )
    except Exception:
        logger.exception("could not record the outcome of %s[%s]", task.name, task_id)


def on_task_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    # Also sent by the pool's parent when a hard time limit kills the child, where
    # no task_postrun follows.
    if sender is None or not isinstance(sender, PeriodicOnceTask):
        return
    # In the worker's own process the start is known; in the pool's parent it is not.
    started_at, worker = _excluded_started.get(task_id, (None, ""))
    try:
        run_record_finished(
            celery_task_id=task_id,
            status=TaskRun.Status.FAILED,
            error=f"{type(exception).__name__}: {exception}",
            task_name=sender.name,
            started_at=started_at,
            worker=worker,
            periodic_task_name=_periodic_task_name(sender) if started_at else None,
        )
    except Exception:
        logger.exception("could not record the failure of %s", task_id)
