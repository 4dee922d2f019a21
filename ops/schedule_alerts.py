"""The "schedule paused" alert: a periodic task that paused itself after failing N
times in a row (schedules' pause on failure) needs a person; Resume resolves it."""

from __future__ import annotations

from typing import Any

from ops.models import Alert
from ops.services import alert_raise, alert_resolve

KIND_SCHEDULE_PAUSED = "schedule_paused"


def _subject(periodic_task_id: int, name: str) -> str:
    return f"{name} (#{periodic_task_id})"


def on_paused(sender: Any = None, periodic_task_id: int = 0, periodic_task_name: str = "",
              failures: int = 0, last_error: str = "", **kw: Any) -> None:  # fmt: skip
    alert_raise(
        kind=KIND_SCHEDULE_PAUSED,
        subject=_subject(periodic_task_id, periodic_task_name),
        message=f"Periodic task {periodic_task_name!r} paused itself after {failures} failed "
        f"runs in a row. Last error: {last_error}. Fix the cause, then Resume it in the "
        "admin (Periodic tasks).",
    )


def on_cleared(sender: Any = None, periodic_task_id: int = 0, **kw: Any) -> None:
    # By id: the task may have been renamed while it was paused.
    subjects = Alert.objects.filter(
        kind=KIND_SCHEDULE_PAUSED,
        status=Alert.Status.OPEN,
        subject__endswith=f"(#{periodic_task_id})",
    ).values_list("subject", flat=True)
    for subject in list(subjects):
        alert_resolve(kind=KIND_SCHEDULE_PAUSED, subject=subject)


def connect() -> None:
    from schedules.signals import (
        periodic_task_failure_pause_cleared,
        periodic_task_paused_for_failures,
    )

    periodic_task_paused_for_failures.connect(on_paused, weak=False)
    periodic_task_failure_pause_cleared.connect(on_cleared, weak=False)
