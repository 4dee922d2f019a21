"""Django's task API, from wherever this Django has it: `django.tasks` on Django 6.0,
the `django-tasks` backport (same API, same names) on Django 5.2.

Importing it also registers that package's system check (every backend's `check()`)
and its signal receivers (the `django.tasks` log lines, and `override_settings(TASKS=...)`
resetting the backends), which on 5.2 would otherwise need `django_tasks` in
INSTALLED_APPS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import django

# Type-checked against django.tasks (django-stubs describes it); the backport has the
# same names.
if TYPE_CHECKING or django.VERSION >= (6, 0):
    from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import (
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
    )
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
else:  # Django 5.2: the backport
    from django_tasks import (
        DEFAULT_TASK_BACKEND_ALIAS,
        checks,  # noqa: F401  (registers the backends' system check)
        task_backends,
    )
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import (
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
    )
    from django_tasks.exceptions import (
        TaskResultDoesNotExist,
        TaskResultMismatch,
    )

    try:
        from django_tasks.exceptions import InvalidTask
    except ImportError:  # 0.12.0 still spells it InvalidTaskError
        from django_tasks.exceptions import (
            InvalidTaskError as InvalidTask,
        )
    from django_tasks.signals import (
        task_enqueued,
        task_finished,
        task_started,
    )
    from django_tasks.utils import normalize_json

__all__ = [
    "DEFAULT_TASK_BACKEND_ALIAS",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultMismatch",
    "TaskResultStatus",
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
