"""The worker-side guard: a run whose overlap lock expired (or passed to another run)
while its message waited is not executed.

Celery's `task_prerun` signal cannot stop a run, so the decision is made there
(`schedules.receivers.on_task_prerun` claims the lock) and enforced here, in every
task's `before_start`, which Celery calls right before the task body and where
raising `Ignore` skips it. `OverlapGuard` puts it on every task, whatever its base
class, through Celery's documented task annotations (`CELERY_TASK_ANNOTATIONS`).
Nothing is imported here, so Celery can load it whenever it binds the first task.
"""

from __future__ import annotations

from celery.exceptions import Ignore

# Runs refused at prerun, in this process (a pool child runs one task at a time).
refused_runs: set[str] = set()


def refuse_unclaimed_runs(before_start):
    """Around `before_start` (task annotations' "@" form): refused runs never start."""

    def before_start_unless_refused(self, task_id, args, kwargs):
        if task_id in refused_runs:
            refused_runs.discard(task_id)
            raise Ignore(f"{self.name}[{task_id}]: its overlap lock expired before it started")
        return before_start(self, task_id, args, kwargs)

    return before_start_unless_refused


class OverlapGuard:
    """A `task_annotations` entry (`CELERY_TASK_ANNOTATIONS = ["schedules.guard.OverlapGuard"]`)."""

    def annotate(self, task):
        return None

    def annotate_any(self):
        return {"@before_start": refuse_unclaimed_runs}
