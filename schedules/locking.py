"""`PeriodicOnceTask`: celery-once's QueueOnce for tasks that are also sent from code.

Every periodic run is overlap-safe whatever its task's class: beat, *Run now* and
catch-up runs go through `schedules.services.overlap`, which takes celery-once's lock
by the schedule's overlap policy, and every task's `before_start` refuses a run whose
lock expired (`schedules.guard`). A team needs this base class only for what that
does not cover:

- `my_task.delay(...)` from code (not through a schedule) takes the same lock, so a
  run sent by code never overlaps a scheduled one (skip: refused and recorded);
- `once={"keys": ["account_id"]}` keys the lock on some arguments only, and
  `once={"timeout": 600}` gives the lock an explicit lifetime;
- `once={"graceful": True}` returns a result with no id instead of raising
  `AlreadyQueued` when a call from code is refused.

Use: @shared_task(base=PeriodicOnceTask, name="x.y", once={"graceful": True},
soft_time_limit=..., time_limit=...). The class only delegates to the services.
"""

from __future__ import annotations

from typing import Any

from celery.app.task import Task
from celery_once import QueueOnce

from schedules.locks import lock_key, lock_redis
from schedules.services.overlap import (
    LOCK_HEADER,
    periodic_once_run_send,
    run_lock_lifetime,
    task_hard_time_limit,
)


class PeriodicOnceTask(QueueOnce):
    abstract = True
    once = {"graceful": True, "unlock_before_run": False}

    # --- lock arithmetic, for callers and tests: one implementation, in the services
    @property
    def default_timeout(self) -> int:
        """Seconds a lock lives: the hard time limit plus a margin."""
        return run_lock_lifetime(self)

    def hard_time_limit(self) -> int:
        return task_hard_time_limit(self)

    def lock_timeout(
        self, once_options: dict[str, Any] | None = None, time_limit: float | None = None
    ) -> int:
        """A per-call time_limit (apply_async(time_limit=...)) wins over the task's."""
        return run_lock_lifetime(self, time_limit=time_limit, once_options=once_options)

    @property
    def lock_redis(self):
        return lock_redis()

    def lock_key(self, args=None, kwargs=None) -> str:
        return lock_key(self, self.name, args, kwargs)

    # --- sending ----------------------------------------------------------------------
    def apply_async(self, args=None, kwargs=None, **options):
        headers = options.get("headers") or {}
        if options.get("retries") or LOCK_HEADER in headers:
            # A retry keeps its run's lock; a run the platform already sent through
            # the overlap policy must not be locked twice.
            return Task.apply_async(self, args, kwargs, **options)
        return periodic_once_run_send(task=self, args=args, kwargs=kwargs, options=options)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        """Nothing: QueueOnce would delete the lock whoever holds it; the platform's
        receivers release only this run's, for every task (schedules.receivers)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if (getattr(cls, "once", None) or {}).get("unlock_before_run"):
            raise TypeError(
                f"{cls.__name__}: once={{'unlock_before_run': True}} is not supported by "
                "PeriodicOnceTask: the lock is held until the run ends."
            )
