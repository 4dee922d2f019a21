"""Celery signal receivers that keep the run history; connected in SchedulesConfig.ready()."""

from __future__ import annotations

import logging

from celery import states

from schedules.locking import PeriodicOnceTask

logger = logging.getLogger(__name__)


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


def on_task_prerun(sender=None, task_id=None, task=None, **kwargs) -> None:
    if task is None or not _is_tracked(task):
        return
    from schedules.services import run_record_started

    try:
        run_record_started(
            celery_task_id=task_id,
            task_name=task.name,
            worker=task.request.hostname or "",
            periodic_task_name=_periodic_task_name(task),
        )
    except Exception:
        # History must never stop the work itself.
        logger.exception("could not record the start of %s[%s]", task.name, task_id)


def on_task_postrun(sender=None, task_id=None, task=None, retval=None, state=None, **kwargs):
    if task is None or not _is_tracked(task):
        return
    from schedules.models import TaskRun
    from schedules.services import run_record_finished

    status = {
        states.SUCCESS: TaskRun.Status.SUCCEEDED,
        states.FAILURE: TaskRun.Status.FAILED,
        states.RETRY: TaskRun.Status.RETRIED,
    }.get(state)
    if status is None:
        return
    error = "" if status == TaskRun.Status.SUCCEEDED else f"{type(retval).__name__}: {retval}"
    try:
        run_record_finished(celery_task_id=task_id, status=status, error=error)
    except Exception:
        logger.exception("could not record the outcome of %s[%s]", task.name, task_id)


def on_task_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    # Also sent by the pool's parent when a hard time limit kills the child, where
    # no task_postrun follows.
    if sender is None or not isinstance(sender, PeriodicOnceTask):
        return
    from schedules.models import TaskRun
    from schedules.services import run_record_finished

    try:
        run_record_finished(
            celery_task_id=task_id,
            status=TaskRun.Status.FAILED,
            error=f"{type(exception).__name__}: {exception}",
        )
    except Exception:
        logger.exception("could not record the failure of %s", task_id)
