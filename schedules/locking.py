"""Overlap locks for periodic tasks: celery-once, keyed on task name + bound arguments.

The lock is taken when a run is queued (by beat, by "Run now" or by code) and held
until the run finishes, successfully or not. A retry keeps it. Its timeout is the
task's hard time limit plus a margin, refreshed when the run starts, so a killed
worker wedges the schedule for at most that long. Next to each lock a small
"holder" record says which Celery task holds it, since when and who queued it, so
the admin can show it and release it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from celery import states
from celery.app.task import Task
from celery_once import QueueOnce
from django.conf import settings
from django.utils import timezone

from schedules.locks import lock_extend, lock_release, lock_run_started
from schedules.services.enqueue import periodic_run_enqueue

logger = logging.getLogger(__name__)


class PeriodicOnceTask(QueueOnce):
    """celery-once base class for periodic tasks that records every run.

    Use: @shared_task(base=PeriodicOnceTask, name="x.y", once={"graceful": True},
    soft_time_limit=..., time_limit=...)
    """

    abstract = True
    once = {"graceful": True, "unlock_before_run": False}

    # --- lock timing ---------------------------------------------------------------
    @property
    def default_timeout(self) -> int:
        """Seconds a lock lives: the hard time limit plus a margin."""
        return self.hard_time_limit() + int(settings.SCHEDULES_LOCK_MARGIN_SECONDS)

    def hard_time_limit(self) -> int:
        return int(
            self.time_limit or self.app.conf.task_time_limit or settings.CELERY_TASK_TIME_LIMIT
        )

    def lock_timeout(
        self, once_options: dict[str, Any] | None = None, time_limit: float | None = None
    ) -> int:
        """A per-call time_limit (apply_async(time_limit=...)) wins over the task's."""
        once_options = once_options or {}
        if "timeout" in once_options or "timeout" in self.once:
            timeout = once_options["timeout"] if "timeout" in once_options else self.once["timeout"]
            return int(timeout)
        if time_limit:
            return int(time_limit) + int(settings.SCHEDULES_LOCK_MARGIN_SECONDS)
        return self.default_timeout

    def _running_lock_timeout(self) -> int:
        # The message header is (hard, soft): Celery's amqp sends [time_limit, soft].
        timelimit = getattr(self.request, "timelimit", None) or (None, None)
        return self.lock_timeout(time_limit=timelimit[0] if timelimit else None)

    @property
    def lock_redis(self):
        return self.once_backend.redis

    def lock_key(self, args=None, kwargs=None) -> str:
        return self.get_key(args or [], kwargs or {})

    # --- enqueue -------------------------------------------------------------------
    def apply_async(self, args=None, kwargs=None, **options):
        if options.get("retries"):
            # A retry of a run that already holds the lock: keep it, queue again.
            return Task.apply_async(self, args, kwargs, **options)
        return periodic_run_enqueue(
            task=self,
            args=args,
            kwargs=kwargs,
            options=options,
            publish=partial(Task.apply_async, self),
        )

    # --- worker side ---------------------------------------------------------------
    def before_start(self, task_id, args, kwargs):
        # Measure the wedge from the start of the run, not from when it was queued.
        lock_run_started(
            self.lock_redis,
            self.lock_key(args, kwargs),
            celery_task_id=task_id,
            worker=self.request.hostname or "",
            timeout_ms=self._running_lock_timeout() * 1000,
        )
        super().before_start(task_id, args, kwargs)

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        # The retry runs after its countdown: keep the lock at least that long.
        when = getattr(exc, "when", None)
        delay = when if isinstance(when, int | float) else 0
        if isinstance(when, datetime):
            delay = max(0.0, (when - timezone.now()).total_seconds())
        timeout_ms = int((self._running_lock_timeout() + delay) * 1000)
        lock_extend(self.lock_redis, self.lock_key(args, kwargs), timeout_ms=timeout_ms)
        super().on_retry(exc, task_id, args, kwargs, einfo)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        # Celery 5.7 does not call after_return for RETRY; guard anyway, a retry keeps it.
        if status == states.RETRY or self.unlock_before_run():
            return
        lock_release(self, self.lock_key(args, kwargs), celery_task_id=task_id)
