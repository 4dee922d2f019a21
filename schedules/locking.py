"""Overlap locks for periodic tasks: celery-once, keyed on task name + bound arguments.

The lock is taken when a run is queued (by beat, by "Run now" or by code) and held
until the run finishes, successfully or not. A retry keeps it. Its timeout is the
task's hard time limit plus a margin, refreshed when the run starts, so a killed
worker wedges the schedule for at most that long. Next to each lock a small
"holder" record says which Celery task holds it, since when and who queued it, so
the admin can show it and release it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from celery import states
from celery.app.task import Task
from celery.result import EagerResult
from celery.utils import uuid
from celery_once import AlreadyQueued, QueueOnce
from django.conf import settings

logger = logging.getLogger(__name__)

HOLDER_SUFFIX = ":holder"

# Deletes the lock and its holder record, but only if the holder is the given run:
# a run whose lock an admin already released must not delete its successor's lock.
_RELEASE_SCRIPT = """
local holder = redis.call('GET', KEYS[2])
if holder and ARGV[1] ~= '' then
  local ok, data = pcall(cjson.decode, holder)
  if ok and data['celery_task_id'] ~= ARGV[1] then
    return 0
  end
end
return redis.call('DEL', KEYS[1], KEYS[2])
"""

# Options our apply_async understands; popped so they never reach the broker.
TRIGGER_OPTION = "schedules_trigger"
QUEUED_BY_OPTION = "schedules_queued_by"
PERIODIC_TASK_ID_OPTION = "schedules_periodic_task_id"


def _now() -> datetime:
    return datetime.now(UTC)


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
        from schedules import services

        trigger = options.pop(TRIGGER_OPTION, None)
        queued_by = options.pop(QUEUED_BY_OPTION, "") or ""
        periodic_task_id = options.pop(PERIODIC_TASK_ID_OPTION, None)
        once_options = options.pop("once", None) or {}
        headers = options.get("headers") or {}
        periodic_task_name = headers.get("periodic_task_name") or options.get("periodic_task_name")
        if trigger is None:
            trigger = "beat" if headers.get("celery_beat_task") or periodic_task_name else "manual"

        if options.get("retries"):
            # A retry of a run that already holds the lock: keep it, queue again.
            return Task.apply_async(self, args, kwargs, **options)

        if periodic_task_id is None and periodic_task_name:
            periodic_task_id = services.periodic_task_id_for_name(name=periodic_task_name)

        graceful = once_options.get("graceful", self.once.get("graceful", False))
        key = self.lock_key(args, kwargs)
        task_id = options.setdefault("task_id", uuid())
        timeout = self.lock_timeout(once_options, options.get("time_limit"))
        try:
            self.once_backend.raise_or_lock(key, timeout=timeout)
        except AlreadyQueued:
            holder = lock_holder_read(self, key)
            services.run_record_skipped(
                task_name=self.name,
                periodic_task_id=periodic_task_id,
                trigger=trigger,
                queued_by=queued_by,
                celery_task_id=task_id,
                held_by=holder,
            )
            if graceful:
                return EagerResult(None, None, states.REJECTED)
            raise

        queued_at = _now()
        self.lock_redis.set(
            key + HOLDER_SUFFIX,
            json.dumps(
                {
                    "celery_task_id": task_id,
                    "task_name": self.name,
                    "periodic_task_id": periodic_task_id,
                    "trigger": trigger,
                    "queued_by": queued_by,
                    "queued_at": queued_at.isoformat(),
                    "started_at": None,
                    "worker": "",
                }
            ),
            px=timeout * 1000,
        )
        try:
            services.run_record_queued(
                task_name=self.name,
                periodic_task_id=periodic_task_id,
                trigger=trigger,
                queued_by=queued_by,
                celery_task_id=task_id,
                queued_at=queued_at,
                time_limit=options.get("time_limit") or self.hard_time_limit(),
            )
            return Task.apply_async(self, args, kwargs, **options)
        except Exception as exc:
            # Never leave a lock behind for a run that was not sent.
            lock_release(self, key, celery_task_id=task_id)
            services.run_record_finished(
                celery_task_id=task_id, status="failed", error=f"could not be queued: {exc!r}"
            )
            raise

    # --- worker side ---------------------------------------------------------------
    def before_start(self, task_id, args, kwargs):
        # Measure the wedge from the start of the run, not from when it was queued.
        key = self.lock_key(args, kwargs)
        timeout_ms = self._running_lock_timeout() * 1000
        raw = self.lock_redis.get(key + HOLDER_SUFFIX)
        holder = json.loads(raw) if raw else None
        if holder is None or holder.get("celery_task_id") == task_id:
            self.lock_redis.pexpire(key, timeout_ms)
            if holder is not None:
                holder["started_at"] = _now().isoformat()
                holder["worker"] = self.request.hostname or ""
                self.lock_redis.set(key + HOLDER_SUFFIX, json.dumps(holder), px=timeout_ms)
        super().before_start(task_id, args, kwargs)

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        # The retry runs after its countdown: keep the lock at least that long.
        when = getattr(exc, "when", None)
        delay = when if isinstance(when, int | float) else 0
        if isinstance(when, datetime):
            delay = max(0.0, (when - _now()).total_seconds())
        timeout_ms = int((self._running_lock_timeout() + delay) * 1000)
        key = self.lock_key(args, kwargs)
        self.lock_redis.pexpire(key, timeout_ms)
        self.lock_redis.pexpire(key + HOLDER_SUFFIX, timeout_ms)
        super().on_retry(exc, task_id, args, kwargs, einfo)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        # Celery 5.7 does not call after_return for RETRY; guard anyway, a retry keeps it.
        if status == states.RETRY or self.unlock_before_run():
            return
        lock_release(self, self.lock_key(args, kwargs), celery_task_id=task_id)


def lock_holder_read(task: PeriodicOnceTask, key: str) -> dict[str, Any] | None:
    """The holder of a lock with its remaining seconds, or None when nobody holds it."""
    redis = task.lock_redis
    ttl_ms = redis.pttl(key)
    if ttl_ms == -2:  # no such key
        return None
    raw = redis.get(key + HOLDER_SUFFIX)
    holder = json.loads(raw) if raw else {"celery_task_id": None}
    holder["key"] = key
    holder["expires_in"] = round(ttl_ms / 1000, 1) if ttl_ms >= 0 else None
    return holder


def lock_release(task: PeriodicOnceTask, key: str, *, celery_task_id: str = "") -> bool:
    """Delete the lock; with celery_task_id, only if that run still holds it."""
    released = task.lock_redis.eval(
        _RELEASE_SCRIPT, 2, key, key + HOLDER_SUFFIX, celery_task_id or ""
    )
    return bool(released)
