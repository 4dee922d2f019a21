"""The overlap policy over a periodic run's life, whoever sends it and whatever the
task's base class.

- send (`periodic_run_send`: beat, *Run now*, `PeriodicOnceTask.apply_async`): by the
  schedule's policy, take the job's lock and publish with an expiry tied to it; or
  wait behind the running run (*queue one*); or record the run skipped; or (*allow*)
  publish without a lock.
- start (`periodic_run_claim`, the worker, before the task body): a run whose lock
  expired or passed to another run is not executed: recorded *expired in queue*.
- retry (`periodic_run_extend`): the lock lives through the countdown.
- end (`periodic_run_release`: success, failure, hard time limit, lost child): the
  lock goes, and the waiting run, if any, takes it and is published.
- expired message (`periodic_run_expired`: the worker dropped it unread).

A locked run's message carries `schedules_lock` = {"key", "lifetime"} in its headers,
so the worker knows which lock it must hold. Lock arithmetic is in docs/schedules.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery import current_app, states
from celery.app.task import Task
from celery.result import EagerResult
from celery.utils import uuid
from celery_once import AlreadyQueued, QueueOnce
from django.conf import settings
from django.utils import timezone

from schedules import selectors
from schedules.locks import (
    lock_acquire,
    lock_extend,
    lock_holder_read,
    lock_key,
    lock_release,
    lock_run_started,
    lock_waiting_promote_if_free,
    waiting_runs,
)
from schedules.models import ScheduleOptions, TaskRun
from schedules.services.runs import (
    run_record_expired,
    run_record_finished,
    run_record_not_sent,
    run_record_promoted,
    run_record_queued,
    run_record_skipped,
)

logger = logging.getLogger(__name__)

LOCK_HEADER = "schedules_lock"
# Options PeriodicOnceTask.apply_async understands; popped so they never reach the broker.
TRIGGER_OPTION = "schedules_trigger"
QUEUED_BY_OPTION = "schedules_queued_by"
PERIODIC_TASK_ID_OPTION = "schedules_periodic_task_id"
# Execution options a waiting run keeps until it is published (JSON only).
_WAITING_OPTIONS = (
    "queue", "exchange", "routing_key", "priority", "headers", "time_limit", "soft_time_limit",
)  # fmt: skip

Publish = Callable[..., Any]


@dataclass
class SendOutcome:
    """What became of a run: "queued" (published), "waiting" or "skipped"."""

    status: str
    celery_task_id: str
    key: str = ""
    result: Any = None
    holder: dict[str, Any] | None = None
    waiting: dict[str, Any] | None = None


def task_hard_time_limit(task) -> int:
    """The task's own hard time limit, else the platform default."""
    limit = getattr(task, "time_limit", None) if task is not None else None
    return int(limit or current_app.conf.task_time_limit or settings.CELERY_TASK_TIME_LIMIT)


def run_lock_lifetime(
    task, *, time_limit: float | None = None, once_options: dict[str, Any] | None = None
) -> int:
    """Seconds a run's lock lives: an explicit celery-once `timeout` (per call, then the
    task's), else the hard time limit (per call, then the task's, then the platform
    default) plus SCHEDULES_LOCK_MARGIN_SECONDS."""
    once = {**(getattr(task, "once", None) or {}), **(once_options or {})}
    if "timeout" in once:
        return int(once["timeout"])
    limit = int(time_limit) if time_limit else task_hard_time_limit(task)
    return limit + int(settings.SCHEDULES_LOCK_MARGIN_SECONDS)


def run_lock_header(request) -> dict[str, Any] | None:
    """The lock a run's message says it holds, from the worker's request."""
    value = getattr(request, LOCK_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(LOCK_HEADER)
    return value if isinstance(value, dict) and value.get("key") else None


def _registered_task(task_name: str):
    # Not selectors.registered_tasks(): importing the task modules again runs Celery's
    # Django fix-up (django.setup(), which reconfigures logging, and every system
    # check) on each send. Beat and workers imported them at start; Run now lists them.
    return current_app.tasks.get(task_name)


def task_publisher(task, task_name: str) -> Publish:
    """Publish through the task's own apply_async (a class that records something when
    sent, like ops' heartbeat, keeps doing it), or by name if not registered here.

    celery-once's QueueOnce (a team's base, or PeriodicOnceTask) is published with
    Celery's own Task.apply_async: its apply_async would take the lock again and
    refuse the run the platform just locked."""
    if isinstance(task, QueueOnce):
        return partial(Task.apply_async, task)
    if task is not None:
        return task.apply_async
    return partial(current_app.send_task, task_name)


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return timezone.now() + timedelta(seconds=value)
    return datetime.fromisoformat(str(value))


def _expires_iso(value: Any) -> str | None:
    when = _as_datetime(value)
    return when.isoformat() if when is not None else None


def _expiry(existing: Any, lifetime: int) -> datetime:
    """The message's expiry: when its lock expires, or the schedule's own if earlier."""
    lock_expiry = timezone.now() + timedelta(seconds=lifetime)
    own = _as_datetime(existing)
    if own is not None and timezone.is_naive(own):
        own = timezone.make_aware(own, timezone.get_default_timezone())
    return min(lock_expiry, own) if own is not None else lock_expiry


def periodic_run_send(
    *,
    task_name: str,
    args: Any,
    kwargs: Any,
    options: dict[str, Any] | None = None,
    trigger: str,
    queued_by: str = "",
    periodic_task_id: int | None = None,
    policy: str | None = None,
    publish: Publish | None = None,
) -> SendOutcome:
    """Send one run of a periodic task by its overlap policy (the schedule's, else
    skip) and record it. `publish(args, kwargs, **options)` sends the message (default:
    the task's apply_async); beat passes its own to reuse its producer."""
    options = dict(options or {})
    once_options = options.pop("once", None) or {}
    task = _registered_task(task_name)
    if policy is None:
        policy = selectors.periodic_task_overlap_policy(periodic_task_id=periodic_task_id)
    publish = publish or task_publisher(task, task_name)
    task_id = options.setdefault("task_id", uuid())
    queued_at = timezone.now()
    record = {
        "task_name": task_name,
        "periodic_task_id": periodic_task_id,
        "trigger": trigger,
        "queued_by": queued_by,
        "celery_task_id": task_id,
        "queued_at": queued_at,
        "time_limit": options.get("time_limit") or task_hard_time_limit(task),
    }
    if policy == ScheduleOptions.Overlap.ALLOW:
        # Marked as sent by the platform (no key: no lock), so PeriodicOnceTask does
        # not take one either.
        options["headers"] = {**(options.get("headers") or {}), LOCK_HEADER: {"policy": policy}}
        run_record_queued(**record)
        return SendOutcome("queued", task_id, result=publish(args, kwargs, **options))

    key = lock_key(task, task_name, args, kwargs)
    lifetime = run_lock_lifetime(
        task, time_limit=options.get("time_limit"), once_options=once_options
    )
    options["headers"] = {
        **(options.get("headers") or {}),
        LOCK_HEADER: {"key": key, "lifetime": lifetime},
    }
    waiting_message = {
        "task_name": task_name,
        "args": list(args or []),
        "kwargs": dict(kwargs or {}),
        "options": {name: options[name] for name in _WAITING_OPTIONS if name in options},
        "expires": _expires_iso(options.get("expires")),
    }
    outcome, held_by, waiting, promoted = lock_acquire(
        key,
        celery_task_id=task_id,
        holder={
            "celery_task_id": task_id,
            "task_name": task_name,
            "periodic_task_id": periodic_task_id,
            "trigger": trigger,
            "queued_by": queued_by,
            "queued_at": queued_at.isoformat(),
            "started_at": None,
            "worker": "",
        },
        lifetime_ms=lifetime * 1000,
        policy=policy,
        waiting=waiting_message,
    )
    if promoted is not None:
        _waiting_run_publish(key=key, waiting=promoted)
    if outcome == "skipped":
        run_record_skipped(
            task_name=task_name,
            periodic_task_id=periodic_task_id,
            trigger=trigger,
            queued_by=queued_by,
            celery_task_id=task_id,
            held_by=held_by,
            waiting=waiting,
        )
        return SendOutcome("skipped", task_id, key, holder=held_by, waiting=waiting)
    if outcome == "waiting":
        run_record_queued(**record, waiting_behind=held_by or {})
        return SendOutcome("waiting", task_id, key, holder=held_by)

    options["expires"] = _expiry(options.get("expires"), lifetime)
    return _locked_run_publish(
        key=key, celery_task_id=task_id, publish=publish, args=args, kwargs=kwargs,
        options=options, record=record,
    )  # fmt: skip


def periodic_once_run_send(*, task, args: Any, kwargs: Any, options: dict[str, Any]) -> Any:
    """`PeriodicOnceTask.apply_async` from code (`delay()`), or with beat's headers: the
    schedule's policy if the headers name one, else skip (celery-once's own rule).

    Returns the AsyncResult (also for a run that waits), or for a refused run an
    EagerResult with no id (state REJECTED) when `once={"graceful": True}`, else raises
    celery-once's AlreadyQueued.
    """
    trigger = options.pop(TRIGGER_OPTION, None)
    queued_by = options.pop(QUEUED_BY_OPTION, "") or ""
    periodic_task_id = options.pop(PERIODIC_TASK_ID_OPTION, None)
    headers = options.get("headers") or {}
    periodic_task_name = headers.get("periodic_task_name") or options.get("periodic_task_name")
    if trigger is None:
        beat_sent = headers.get("celery_beat_task") or periodic_task_name
        trigger = TaskRun.Trigger.BEAT if beat_sent else TaskRun.Trigger.MANUAL
    if periodic_task_id is None and periodic_task_name:
        periodic_task_id = selectors.periodic_task_id_for_name(name=periodic_task_name)
    graceful = (options.get("once") or {}).get("graceful", task.once.get("graceful", False))
    outcome = periodic_run_send(
        task_name=task.name, args=args, kwargs=kwargs, options=options, trigger=trigger,
        queued_by=queued_by, periodic_task_id=periodic_task_id,
    )  # fmt: skip
    if outcome.result is not None:
        return outcome.result
    if outcome.status == "waiting":
        return task.AsyncResult(outcome.celery_task_id)
    if graceful:
        return EagerResult(None, None, states.REJECTED)  # type: ignore[arg-type]
    raise AlreadyQueued((lock_holder_read(outcome.key) or {}).get("expires_in") or 0)


def _locked_run_publish(
    *,
    key: str,
    celery_task_id: str,
    publish: Publish,
    args: Any,
    kwargs: Any,
    options: dict[str, Any],
    record: dict[str, Any] | None,
) -> SendOutcome:
    """Publish a run that holds its lock; a run not sent leaves no lock behind."""
    try:
        if record is not None:
            run_record_queued(**record)
        result = publish(args, kwargs, **options)
    except Exception as exc:
        periodic_run_release(key=key, celery_task_id=celery_task_id)
        run_record_finished(
            celery_task_id=celery_task_id,
            status=TaskRun.Status.FAILED,
            error=f"could not be queued: {exc!r}",
        )
        raise
    if getattr(result, "id", None) is None:
        # The task's own apply_async declined to send it (ops' heartbeat does, while
        # the previous heartbeat still waits).
        periodic_run_release(key=key, celery_task_id=celery_task_id)
        run_record_not_sent(
            celery_task_id=celery_task_id, reason="not sent: the task's apply_async declined it"
        )
        return SendOutcome("skipped", celery_task_id, key, result)
    return SendOutcome("queued", celery_task_id, key, result)


def _waiting_run_publish(*, key: str, waiting: dict[str, Any]) -> None:
    """A waiting run took the lock: publish it, expiring with its lock."""
    celery_task_id = waiting["celery_task_id"]
    lifetime = int(waiting["lifetime_ms"]) // 1000
    options = {**waiting["options"], "task_id": celery_task_id}
    options["expires"] = _expiry(waiting.get("expires"), lifetime)
    run_record_promoted(celery_task_id=celery_task_id)
    try:
        _locked_run_publish(
            key=key, celery_task_id=celery_task_id, publish=task_publisher(_registered_task(waiting["task_name"]), waiting["task_name"]),
            args=waiting["args"], kwargs=waiting["kwargs"], options=options, record=None,
        )  # fmt: skip
    except Exception:
        # Recorded failed and its lock released; whoever released the lock before it
        # (a worker finishing a run) must not fail for it.
        logger.exception("could not send the waiting run %s", celery_task_id)


def periodic_run_claim(
    *, lock: dict[str, Any], celery_task_id: str, task_name: str, worker: str,
    periodic_task_name: str | None,
) -> bool:  # fmt: skip
    """A worker is about to run it: True if the run still holds its lock (now measured
    from this start); else it is recorded expired in queue and must not run.

    The lock lives in Redis; a Redis that lost its data (restarted empty, a failover)
    lost it while its run went on, and the next run would take a new one. So a run that
    holds its lock is also refused while PostgreSQL has another run of its schedule
    *started* within the lock's lifetime (a frozen or slow worker's, still running)."""
    if lock_run_started(
        lock["key"],
        celery_task_id=celery_task_id,
        worker=worker,
        lifetime_ms=int(lock["lifetime"]) * 1000,
    ):
        other = (
            selectors.periodic_run_running_besides(
                periodic_task_name=periodic_task_name,
                celery_task_id=celery_task_id,
                seconds=int(lock["lifetime"]),
            )
            if periodic_task_name
            else None
        )
        if other is None:
            return True
        periodic_run_release(key=lock["key"], celery_task_id=celery_task_id)
        run_record_expired(
            celery_task_id=celery_task_id,
            task_name=task_name,
            periodic_task_name=periodic_task_name,
            why=f"run {other.celery_task_id} of its schedule, started at "
            f"{other.started_at:%H:%M:%S} on {other.worker or 'a worker'}, still runs (its "
            "overlap lock was lost with Redis's data)",
        )
        return False
    run_record_expired(
        celery_task_id=celery_task_id,
        task_name=task_name,
        periodic_task_name=periodic_task_name,
        why=f"its overlap lock ({lock['lifetime']} s) expired or was released before it started",
        held_by=lock_holder_read(lock["key"]),
    )
    return False


def periodic_run_extend(*, lock: dict[str, Any], celery_task_id: str, delay: float) -> None:
    """A retry runs after its countdown: its lock lives that much longer."""
    lock_extend(
        lock["key"],
        celery_task_id=celery_task_id,
        lifetime_ms=int((int(lock["lifetime"]) + max(0.0, delay)) * 1000),
    )


def periodic_run_release(*, key: str, celery_task_id: str = "") -> bool:
    """Release a run's lock (only its own, unless celery_task_id is empty); the run
    waiting behind it, if any, takes the lock and is published."""
    released, promoted = lock_release(key, celery_task_id=celery_task_id)
    if promoted is not None:
        _waiting_run_publish(key=key, waiting=promoted)
    return released


def periodic_run_expired(
    *, lock: dict[str, Any], celery_task_id: str, task_name: str, periodic_task_name: str | None
) -> None:
    """The worker dropped the message unread: it expired with its lock."""
    run_record_expired(
        celery_task_id=celery_task_id,
        task_name=task_name,
        periodic_task_name=periodic_task_name,
        why=f"its message expired with its overlap lock ({lock['lifetime']} s)",
    )
    periodic_run_release(key=lock["key"], celery_task_id=celery_task_id)


def waiting_runs_publish_orphans() -> int:
    """Waiting runs whose predecessor's lock expired (its worker died) take the lock
    and are published; the reaper calls this every minute. Returns how many."""
    published = 0
    for key in waiting_runs():
        promoted = lock_waiting_promote_if_free(key)
        if promoted is not None:
            _waiting_run_publish(key=key, waiting=promoted)
            published += 1
    return published
