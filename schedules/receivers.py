"""Celery signal receivers: the run history and the overlap lock over a run's life, for
every task whatever its base class; connected in SchedulesConfig.ready().

In the worker: `task_prerun` claims the run's lock (a run whose lock expired is
refused, see schedules.guard) and records the start; `task_postrun` and
`task_failure` (also sent by the pool's parent after a hard time limit or a lost
child) record the outcome and release the lock, publishing the run waiting behind
it; `task_retry` keeps the lock through the countdown; `task_revoked` records a
message that expired unread. Before any publish, `before_task_publish` gives a
retry's message an expiry tied to its extended lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from celery import states
from django.utils import timezone

from common.database import database_retried
from schedules.guard import refused_runs
from schedules.locking import PeriodicOnceTask
from schedules.locks import lock_key
from schedules.models import TaskRun
from schedules.services.failures import run_failure_pause_check
from schedules.services.overlap import (
    LOCK_HEADER,
    periodic_run_claim,
    periodic_run_expired,
    periodic_run_extend,
    periodic_run_release,
    run_lock_header,
)
from schedules.services.runs import (
    run_history_excluded,
    run_record_finished,
    run_record_started,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How long a run's claim, start and outcome wait for PostgreSQL before the run goes on
# unrecorded: the started row is what keeps two runs apart when Redis lost the lock, and
# a worker frozen between Django's per-task health check and its first query wakes to a
# connection a PostgreSQL restart broke.
DATABASE_WAIT_SECONDS = 10.0


# How long a worker starting again waits for PostgreSQL to end its predecessor's runs
# (it can run nothing without the database anyway).
PREDECESSOR_WAIT_SECONDS = 30.0


def _with_database(step: Callable[[], T]) -> T:
    return database_retried(step, seconds=DATABASE_WAIT_SECONDS)


# Start times of runs of excluded tasks (SCHEDULES_HISTORY_EXCLUDE), which have no row
# unless they fail; popped when the run ends. Per worker process, so never shared.
_excluded_started: dict[str, tuple[datetime, str]] = {}


def _periodic_task_name(task) -> str | None:
    request = task.request
    name = getattr(request, "periodic_task_name", None)
    if name:
        return name
    headers = getattr(request, "headers", None) or {}
    return headers.get("periodic_task_name")


def _is_tracked(task) -> bool:
    # Only periodic work: beat-sent tasks, runs sent through the overlap policy and
    # PeriodicOnceTask runs. Import chunks, report sends and the like keep their own
    # status rows.
    return (
        isinstance(task, PeriodicOnceTask)
        or bool(_periodic_task_name(task))
        or run_lock_header(task.request) is not None
    )


def _hard_time_limit(task) -> float | None:
    # A per-call limit travels in the message as (hard, soft).
    timelimit = getattr(task.request, "timelimit", None) or (None, None)
    per_call = timelimit[0] if timelimit else None
    return per_call or task.time_limit or task.app.conf.task_time_limit


def _claimed(task, task_id: str) -> bool:
    """False for a run whose overlap lock expired while it waited (it must not run)."""
    lock = run_lock_header(task.request)
    if lock is None:
        return True
    try:
        claimed = _with_database(
            lambda: periodic_run_claim(
                lock=lock,
                celery_task_id=task_id,
                task_name=task.name,
                worker=task.request.hostname or "",
                periodic_task_name=_periodic_task_name(task),
            )
        )
    except Exception:
        # Redis or the database failing must not stop the work: run it, as beat
        # sends when it cannot decide.
        logger.exception("could not claim the overlap lock of %s[%s]", task.name, task_id)
        return True
    if not claimed:
        refused_runs.add(task_id)
    return claimed


def on_task_prerun(sender=None, task_id=None, task=None, **kwargs) -> None:
    if task is None or not _is_tracked(task) or not _claimed(task, task_id):
        return
    worker = task.request.hostname or ""
    if run_history_excluded(task_name=task.name):
        _excluded_started[task_id] = (datetime.now(UTC), worker)
    try:
        _with_database(
            lambda: run_record_started(
                celery_task_id=task_id,
                task_name=task.name,
                worker=worker,
                periodic_task_name=_periodic_task_name(task),
                time_limit=_hard_time_limit(task),
            )
        )
    except Exception:
        # History must never stop the work itself.
        logger.exception("could not record the start of %s[%s]", task.name, task_id)


def _release(task, task_id: str, args=None, kwargs=None) -> None:
    """Release the run's lock (only if it still holds it), publishing the waiting run.

    The pool's parent (hard time limit) has no request: the key is computed from the
    arguments, as the sender computed it."""
    lock = run_lock_header(task.request) if task.request.id == task_id else None
    try:
        key = lock["key"] if lock else lock_key(task, task.name, args, kwargs)
    except TypeError:
        return  # arguments that do not bind to the task: no lock was taken for them
    try:
        periodic_run_release(key=key, celery_task_id=task_id)
    except Exception:
        logger.exception("could not release the overlap lock of %s[%s]", task.name, task_id)


def on_task_postrun(sender=None, task_id=None, task=None, retval=None, state=None, **kwargs):
    if task is None or not _is_tracked(task):
        return
    # The outcome first, then the lock: the run that takes the lock next must find this
    # one finished in PostgreSQL (a start is refused while another run is started).
    _outcome_record(task, task_id, retval, state)
    if state != states.RETRY and run_lock_header(task.request) is not None:
        _release(task, task_id)


def _outcome_record(task, task_id: str, retval, state) -> None:
    started_at, worker = _excluded_started.pop(task_id, (None, ""))
    status = {
        states.SUCCESS: TaskRun.Status.SUCCEEDED,
        states.FAILURE: TaskRun.Status.FAILED,
        states.RETRY: TaskRun.Status.RETRIED,
    }.get(state)
    if status is None:
        return
    error = "" if status == TaskRun.Status.SUCCEEDED else f"{type(retval).__name__}: {retval}"
    try:
        _with_database(
            lambda: run_record_finished(
                celery_task_id=task_id,
                status=status,
                error=error,
                task_name=task.name,
                started_at=started_at,
                worker=worker,
                periodic_task_name=_periodic_task_name(task),
            )
        )
        if status == TaskRun.Status.FAILED:
            run_failure_pause_check(celery_task_id=task_id)
    except Exception:
        logger.exception("could not record the outcome of %s[%s]", task.name, task_id)


def on_task_failure(sender=None, task_id=None, exception=None, args=None, kwargs=None, **kw):
    # Also sent by the pool's parent when a hard time limit kills the child or the
    # child is lost, where no task_postrun follows: record it and free the lock here.
    if sender is None:
        return
    if sender.request.id == task_id and not _is_tracked(sender):
        return  # the run's own request says it is not periodic work
    # In the worker's own process the start is known; in the pool's parent it is not.
    started_at, worker = _excluded_started.get(task_id, (None, ""))
    try:
        # Through a PostgreSQL restart too: a run left "started" refuses its schedule's
        # next runs for its whole lock lifetime (see periodic_run_claim).
        _with_database(
            lambda: run_record_finished(
                celery_task_id=task_id,
                status=TaskRun.Status.FAILED,
                error=f"{type(exception).__name__}: {exception}",
                task_name=sender.name,
                started_at=started_at,
                worker=worker,
                periodic_task_name=_periodic_task_name(sender) if started_at else None,
            )
        )
        run_failure_pause_check(celery_task_id=task_id)
    except Exception:
        logger.exception("could not record the failure of %s", task_id)
    # Then the lock (as in task_postrun). In the worker's own process task_postrun
    # releases it too: a second release of a lock this run no longer holds does nothing.
    _release(sender, task_id, args, kwargs)


def on_task_retry(sender=None, request=None, reason=None, **kwargs) -> None:
    lock = run_lock_header(request)
    if lock is None or request is None:
        return
    when = getattr(reason, "when", None)
    delay = float(when) if isinstance(when, int | float) else 0.0
    if isinstance(when, datetime):
        delay = (when - datetime.now(UTC)).total_seconds()
    try:
        periodic_run_extend(lock=lock, celery_task_id=request.id, delay=delay)
    except Exception:
        logger.exception("could not extend the overlap lock of %s", request.id)


def on_task_revoked(sender=None, request=None, expired=False, **kwargs) -> None:
    """A message the worker dropped unread because it expired (with its lock)."""
    lock = run_lock_header(request) if expired else None
    if lock is None or sender is None:
        return
    try:
        periodic_run_expired(
            lock=lock,
            celery_task_id=request.id,
            task_name=sender.name,
            periodic_task_name=getattr(request, "periodic_task_name", None),
        )
    except Exception:
        logger.exception("could not record the expired run %s", request.id)


def on_before_task_publish(sender=None, headers=None, **kwargs) -> None:
    """A retry's message expires with its run's lock, which lives through the countdown
    (the message would otherwise keep the first send's expiry)."""
    lock = (headers or {}).get(LOCK_HEADER)
    if (
        not headers
        or not isinstance(lock, dict)
        or not lock.get("key")
        or not headers.get("retries")
    ):
        return
    eta = headers.get("eta")
    start = datetime.fromisoformat(eta) if eta else datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    headers["expires"] = (start + timedelta(seconds=int(lock["lifetime"]))).isoformat()


def on_worker_ready(sender=None, **kwargs) -> None:
    """A worker node is ready: the runs its predecessor of the same name left started
    died with it (`runs_of_restarted_worker_end`)."""
    from schedules.services.reaper import runs_of_restarted_worker_end

    hostname = getattr(sender, "hostname", "") or ""
    if not hostname:
        return
    before = timezone.now()
    try:
        # Through a PostgreSQL restart too (a worker killed with the database is started
        # again while it recovers): a predecessor's run left started refuses its
        # schedule's next runs for its whole lock lifetime (see periodic_run_claim).
        database_retried(
            lambda: runs_of_restarted_worker_end(worker=hostname, before=before),
            seconds=PREDECESSOR_WAIT_SECONDS,
        )
    except Exception:
        logger.exception("could not end the runs of %s's predecessor", hostname)
