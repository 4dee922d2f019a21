"""`CeleryBackend`: Django's task API (`@task`, `.enqueue()`, `get_result()`) on the
platform's Celery workers. Configured in settings as

    TASKS = {"default": {"BACKEND": "schedules.tasks_backend.CeleryBackend"}}

with, optionally, "QUEUES" (the platform queues tasks may name; all of them when left
out) and "OPTIONS" (Celery task options given to every task of this backend, for
example {"TIME_LIMIT": 300, "SOFT_TIME_LIMIT": 270}). docs/standard-tasks.md says what
each part of Django's contract becomes here.
"""

from __future__ import annotations

import math
from datetime import timedelta
from functools import partial
from typing import Any

from celery import current_app
from celery.utils import uuid
from django.conf import settings
from django.core import checks
from django.db import transaction
from django.utils import timezone

from schedules.tasks_backend import api, records, runner

# Celery task options a backend's OPTIONS may set for its tasks (upper case, as
# Django's settings spell them).
CELERY_OPTIONS = {"TIME_LIMIT", "SOFT_TIME_LIMIT", "ACKS_LATE", "REJECT_ON_WORKER_LOST"}


def platform_queues() -> set[str]:
    """The queues the platform's workers consume (CELERY_TASK_QUEUES)."""
    conf = current_app.conf
    return {queue.name for queue in conf.task_queues or ()} | {conf.task_default_queue}


def _not_json(value: Any, where: str) -> str | None:
    """Where `value` stops being JSON (Django's rule for task arguments), or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the key {key!r}: JSON object keys are strings"
            if found := _not_json(item, f"{where}[{key!r}]"):
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if found := _not_json(item, f"{where}[{index}]"):
                return found
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value!r}, which JSON cannot hold"
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"{where} is a {type(value).__module__}.{type(value).__qualname__}"


class CeleryBackend(api.BaseTaskBackend):
    supports_defer = True  # run_after: the message's ETA
    supports_async_task = True  # an async def runs to completion in the worker
    supports_get_result = True  # from the result backend, in any process
    supports_priority = True  # Redis priority steps (runner.celery_priority)

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        self.queues_given = "QUEUES" in params
        if not self.queues_given:
            self.queues = platform_queues()
        # Tasks (frozen, hashable) that passed validation on this backend: the outcome
        # cannot change for its life, so enqueue does not inspect the function again.
        self._validated: set[api.Task] = set()

    # --- what a task may be ---------------------------------------------------------
    def validate_task(self, task: api.Task) -> None:
        """Django's rules, the platform's, then the task is a Celery task too."""
        if task.run_after is None and task in self._validated:
            return
        super().validate_task(task)
        horizon = settings.CELERY_VISIBILITY_TIMEOUT
        if task.run_after is not None and task.run_after > timezone.now() + timedelta(
            seconds=horizon
        ):
            raise api.InvalidTask(
                f"{task.module_path}: run_after {task.run_after.isoformat()} is more than "
                f"CELERY_VISIBILITY_TIMEOUT ({horizon} s) ahead: Redis would deliver the "
                "message a second time while a worker holds it. Schedule it instead."
            )
        runner.standard_task_register(
            task,
            # Only the options it knows (an unknown one is schedules.E003).
            options={key: value for key, value in self.options.items() if key in CELERY_OPTIONS},
        )
        if task.run_after is None:
            self._validated.add(task)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors: list[checks.CheckMessage] = []
        known = platform_queues()
        if self.queues_given and not self.queues:
            errors.append(
                checks.Error(
                    f"TASKS[{self.alias!r}]['QUEUES'] is empty, which lets a task name any "
                    "queue, and a queue no worker consumes would hold its runs forever.",
                    hint=f"Leave QUEUES out (every platform queue) or list some of: "
                    f"{', '.join(sorted(known))}.",
                    id="schedules.E002",
                )
            )
        if unknown := sorted(self.queues - known):
            errors.append(
                checks.Error(
                    f"TASKS[{self.alias!r}]['QUEUES'] names {', '.join(map(repr, unknown))}, "
                    "which no platform worker consumes: its tasks would never run.",
                    hint=f"The platform's queues (CELERY_TASK_QUEUES): {', '.join(sorted(known))}.",
                    id="schedules.E002",
                )
            )
        if unknown_options := sorted(set(self.options) - CELERY_OPTIONS):
            errors.append(
                checks.Error(
                    f"TASKS[{self.alias!r}]['OPTIONS'] has {', '.join(unknown_options)}, "
                    "which this backend does not know.",
                    hint=f"It knows {', '.join(sorted(CELERY_OPTIONS))}.",
                    id="schedules.E003",
                )
            )
        return errors

    # --- enqueue --------------------------------------------------------------------
    def enqueue(self, task: api.Task, args, kwargs) -> api.TaskResult:
        """A READY result now; the message goes when the transaction commits (at once
        outside one), so a worker never looks for a row that is not committed yet."""
        self.validate_task(task)
        where = _not_json(list(args), "args") or _not_json(dict(kwargs), "kwargs")
        if where:
            raise TypeError(
                f"{task.module_path}.enqueue(): {where}, not JSON. Task arguments must be "
                "JSON (str, int, float, bool, None, lists and string-keyed dicts): pass ids "
                "and primitives."
            )
        result: api.TaskResult = api.TaskResult(
            task=task,
            id=uuid(),
            status=api.TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        transaction.on_commit(partial(self._send, result))
        return result

    def _send(self, result: api.TaskResult) -> None:
        task = result.task
        object.__setattr__(result, "enqueued_at", timezone.now())
        records.record_write(result.id, records.record_for(result))
        celery_task: Any = current_app.tasks[task.module_path]
        celery_task.apply_async(
            args=result.args,
            kwargs=result.kwargs,
            task_id=result.id,
            queue=task.queue_name,
            priority=runner.celery_priority(task.priority),
            eta=task.run_after,
            **{runner.RECORDED_OPTION: True},
        )
        api.task_enqueued.send(sender=type(self), task_result=result)

    # --- results --------------------------------------------------------------------
    def get_result(self, result_id: str) -> api.TaskResult:
        record = records.record_read(str(result_id))
        if record is None:
            raise api.TaskResultDoesNotExist(result_id)
        return records.result_from(record)


def backends_check() -> list[checks.CheckMessage]:
    """Every Celery backend's check, for the worker to refuse to start on (Celery runs
    Django's checks at start-up but ignores their result)."""
    errors: list[checks.CheckMessage] = []
    for backend in api.task_backends.all():
        if isinstance(backend, CeleryBackend):
            errors.extend(backend.check())
    return errors
