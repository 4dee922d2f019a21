"""The Celery side of a standard-API task: each `@task` on the Celery backend is also a
Celery task, named by the task's import path (`Task.module_path`, the identity Django
itself stores), whose body runs the function and records its result.

Because it is a registered Celery task, everything the platform does for a
`@shared_task` applies unchanged: the periodic-task admin lists it, beat and *Run now*
send it through the overlap policy, the run history, pause on failure, Sentry check-ins
and alerts follow its runs (schedules.receivers, ops), and the worker's checks cover its
time limits. It is registered when Django creates the Task (the backend's
validate_task), so a process that imports the module that defines it knows it.
"""

from __future__ import annotations

import inspect
import logging
import math
from traceback import format_exception
from typing import Any

from celery import current_app, current_task, shared_task
from celery.app.task import Task as CeleryTask
from celery.utils import uuid
from django.utils import timezone
from django.utils.module_loading import import_string

from schedules.tasks_backend import api, records

logger = logging.getLogger(__name__)

_registered: set[str] = set()

# apply_async's option saying that the backend has written the run's READY record.
RECORDED_OPTION = "standard_task_recorded"


class StandardTaskExited(Exception):
    """A task body raised SystemExit (or another BaseException): the run failed, and
    the worker process goes on."""


class StandardTaskRunner(CeleryTask):
    """Base class of the Celery tasks that run standard-API tasks."""

    abstract = True
    typing = True
    # The Task's queue and priority, for a run sent by name (beat, *Run now*), which
    # Celery 5.7 deprecates as the task attributes `queue` and `priority`.
    standard_queue: str | None = None
    standard_priority: int | None = None

    def apply_async(self, args=None, kwargs=None, **options):
        # A schedule with no queue or priority of its own passes none (or None).
        if options.get("queue") is None:
            options["queue"] = self.standard_queue
        if options.get("priority") is None:
            options["priority"] = self.standard_priority
        if not options.pop(RECORDED_OPTION, False):
            # Celery's own argument check first, so a refused call leaves no record.
            self.__header__(*(args or ()), **(kwargs or {}))
            # Sent by name (beat, *Run now*, code calling the Celery task): the result
            # is READY from now on, as for a run enqueued through Django's API.
            task_id = options.setdefault("task_id", uuid())
            records.record_write(
                task_id, _record_of_a_run_sent_by_name(self.name, args or [], kwargs or {})
            )
        return super().apply_async(args, kwargs, **options)


def celery_priority(priority: int) -> int:
    """Django's priority (-100..100, higher first) as a Redis message priority.

    Kombu's Redis transport serves steps 0, 3, 6, 9 in that order, and a Celery task
    sent without a priority is at 0, the first step. Django's default 0, and anything
    above, runs at that step beside every Celery task; -1..-33 at 3, -34..-66 at 6,
    -67..-100 at 9: a lower priority waits for the higher ones, never the reverse.
    """
    if priority >= 0:
        return 0
    return min(9, 3 * math.ceil(-priority / 33.34))


def _public_signature(task: api.Task) -> inspect.Signature:
    """The arguments a caller passes: the function's, without `context`."""
    signature = inspect.signature(task.func)
    if task.takes_context:
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature.replace(return_annotation=inspect.Signature.empty)


def standard_task_register(task: api.Task, *, options: dict[str, Any]) -> None:
    """Make `task` a Celery task (once per process), with the backend's OPTIONS as
    its Celery options (time limits and the like)."""
    name = task.module_path
    if name in _registered:
        return
    _registered.add(name)

    def run(*args: Any, **kwargs: Any) -> Any:
        return standard_task_execute(module_path=name, args=list(args), kwargs=kwargs)

    run.__name__ = task.func.__name__
    run.__qualname__ = task.func.__qualname__
    run.__module__ = task.func.__module__
    run.__doc__ = task.func.__doc__
    run.__signature__ = _public_signature(task)  # type: ignore[attr-defined]
    celery_options = {key.lower(): value for key, value in options.items()}
    shared_task(
        name=name,
        base=StandardTaskRunner,
        standard_queue=task.queue_name,
        standard_priority=celery_priority(task.priority),
        ignore_result=True,  # the result is the record (schedules.tasks_backend.records)
        **celery_options,
    )(run)


def _hard_time_limit() -> float | None:
    request = current_task.request
    per_call = (getattr(request, "timelimit", None) or (None, None))[0]
    return per_call or current_task.time_limit or current_app.conf.task_time_limit


def _record_of_a_run_sent_by_name(module_path: str, args, kwargs) -> dict[str, Any]:
    """The READY record of a run sent as a Celery task (beat, *Run now*), with the
    Task's own queue and priority."""
    task = import_string(module_path)
    return {
        "task": module_path,
        "queue_name": task.queue_name,
        "priority": task.priority,
        "run_after": None,
        "backend": task.backend,
        "status": str(api.TaskResultStatus.READY),
        "args": list(args),
        "kwargs": dict(kwargs),
        "enqueued_at": timezone.now().isoformat(),
        "started_at": None,
        "finished_at": None,
        "last_attempted_at": None,
        "errors": [],
        "worker_ids": [],
        "return_value": None,
    }


def _record(result_id: str, record: dict[str, Any]) -> None:
    """Write the run's record; a result backend failing must not stop (or fail) the work
    itself, as the run history never does (schedules.receivers)."""
    try:
        records.record_write(result_id, record)
    except Exception:
        logger.exception("could not record the result of standard task run %s", result_id)


def _raised_by_the_pool(exc: BaseException) -> bool:
    """A SystemExit the pool raised in this process to end it (billiard's signal
    handler at the hard time limit), not one the task body raised."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and str(frame.tb_frame.f_globals.get("__name__", "")).startswith(
        "billiard"
    )


def standard_task_execute(*, module_path: str, args: list, kwargs: dict) -> Any:
    """Run one standard-API task in the worker, as Django's ImmediateBackend runs it
    (same statuses, errors and signals), recording the result as it goes. An error is
    raised again after it is recorded, so Celery and the run history see the failure."""
    request = current_task.request
    result_id = str(request.id)
    try:
        record = records.record_read(result_id)
    except Exception:
        logger.exception("could not read the result of standard task run %s", result_id)
        record = None
    record = record or _record_of_a_run_sent_by_name(module_path, args, kwargs)
    now = timezone.now().isoformat()
    record.update(
        status=str(api.TaskResultStatus.RUNNING),
        started_at=now,
        last_attempted_at=now,
        finished_at=None,
        return_value=None,
        worker_ids=[*record.get("worker_ids", []), request.hostname or "worker"],
        time_limit=_hard_time_limit(),
    )
    _record(result_id, record)
    result = records.result_from({**record, "id": result_id})
    task = result.task
    backend_class = type(task.get_backend())
    api.task_started.send(sender=backend_class, task_result=result)
    try:
        if task.takes_context:
            value = task.call(api.TaskContext(task_result=result), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        value = api.normalize_json(value)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        if not isinstance(exc, Exception) and _raised_by_the_pool(exc):
            raise  # the process is being ended (hard time limit): on_task_failure records it
        record = records.record_failed(
            record,
            exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
            traceback="".join(format_exception(exc)),
        )
        _record(result_id, record)
        failed = records.result_from({**record, "id": result_id})
        api.task_finished.send(sender=backend_class, task_result=failed)
        if isinstance(exc, Exception):
            raise
        raise StandardTaskExited(f"{type(exc).__name__}: {exc}") from exc
    record.update(
        status=str(api.TaskResultStatus.SUCCESSFUL),
        finished_at=timezone.now().isoformat(),
        return_value=value,
    )
    _record(result_id, record)
    api.task_finished.send(
        sender=backend_class, task_result=records.result_from({**record, "id": result_id})
    )
    return value


def on_task_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    """The pool's parent after a hard time limit or a lost child: the body never
    reached its own except clause, so the record still says RUNNING; fail it here."""
    if not isinstance(sender, StandardTaskRunner) or not task_id:
        return
    try:
        record = records.record_read(task_id)
        if record is None or record.get("status") != str(api.TaskResultStatus.RUNNING):
            return
        exception_class = type(exception) if exception is not None else RuntimeError
        records.record_write(
            task_id,
            records.record_failed(
                record,
                exception_class_path=f"{exception_class.__module__}.{exception_class.__qualname__}",
                traceback=f"{exception_class.__name__}: {exception}\n",
            ),
        )
    except Exception:
        logger.exception("could not record the failure of standard task run %s", task_id)
