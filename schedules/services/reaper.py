"""Lost runs: runs still queued or started long after any worker could finish them.

A worker killed as a whole (SIGKILL, OOM, lost machine) sends no signal, and a lost
message never starts; `schedules.reap_lost_runs` (every minute) marks such runs
failed. The SQL and its figures are described in docs/schedules.md.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from schedules import selectors
from schedules.locks import locks_held_by_worker, waiting_runs
from schedules.models import TaskRun
from schedules.services.failures import periodic_tasks_failure_pause_check
from schedules.services.overlap import periodic_run_release, waiting_runs_publish_orphans
from schedules.services.runs import run_record_expired

logger = logging.getLogger(__name__)


def _registered_time_limits() -> dict[str, int]:
    limits = {}
    for name, task in selectors.registered_tasks().items():
        if getattr(task, "time_limit", None):
            limits[name] = int(task.time_limit)
    return limits


def runs_lost_reap(*, now: datetime | None = None) -> dict[str, int]:
    """Mark runs failed whose worker died (started) or whose message was lost (queued).

    A started run is lost once its hard time limit plus SCHEDULES_LOCK_MARGIN_SECONDS
    has passed since it started: Celery would have killed it at the limit and the
    pool's parent recorded the failure, so a run still "started" then has no worker
    left. A queued run gets SCHEDULES_QUEUE_WAIT_SECONDS on top. One UPDATE for each;
    the WHERE is re-checked under the row lock, so a run whose outcome commits
    meanwhile is left alone. Idempotent: a second call finds nothing.
    """
    now = now or timezone.now()
    margin = int(settings.SCHEDULES_LOCK_MARGIN_SECONDS)
    wait = int(settings.SCHEDULES_QUEUE_WAIT_SECONDS)
    default_limit = int(settings.CELERY_TASK_TIME_LIMIT)
    by_task = [
        When(task_name=name, then=Value(limit))
        for name, limit in sorted(_registered_time_limits().items())
        if limit != default_limit
    ]
    limit = Coalesce(
        F("time_limit"),
        Case(*by_task, default=Value(default_limit), output_field=IntegerField())
        if by_task
        else Value(default_limit),
        output_field=IntegerField(),
    )
    counts: dict[str, int] = {}
    lost = TaskRun.objects.filter(
        status=TaskRun.Status.STARTED, started_at__lt=_deadline(now, limit, margin)
    )
    counts["started"] = lost.update(
        status=TaskRun.Status.FAILED,
        finished_at=now,
        reaped_at=now,
        duration=ExpressionWrapper(Value(now) - F("started_at"), output_field=DurationField()),
        error=Concat(
            Value(f"worker lost: no result within {margin} s of the "),
            Cast(limit, CharField()),
            Value(" s hard time limit (started at "),
            Cast("started_at", CharField()),
            Value(", worker "),
            F("worker"),
            Value(")"),
            output_field=CharField(),
        ),
    )
    never = TaskRun.objects.filter(
        status=TaskRun.Status.QUEUED, queued_at__lt=_deadline(now, limit, margin + wait)
    )
    counts["queued"] = never.update(
        status=TaskRun.Status.FAILED,
        finished_at=now,
        reaped_at=now,
        error=Concat(
            Value("worker lost: never started within "),
            Cast(limit + Value(margin + wait), CharField()),
            Value(" s of being queued (message lost, or no worker consumes its queue)"),
            output_field=CharField(),
        ),
    )
    if counts["started"] or counts["queued"]:
        logger.warning("schedules: marked lost runs failed: %s", counts)
        reaped = (
            TaskRun.objects.filter(reaped_at=now, periodic_task__isnull=False)
            .values_list("periodic_task_id", flat=True)
            .distinct()
        )
        periodic_tasks_failure_pause_check(periodic_task_ids=list(reaped))
    return counts


def waiting_runs_reap(*, now: datetime | None = None) -> dict[str, int]:
    """Runs waiting behind a run whose worker died (its lock expired, so nothing
    released it): the waiting run takes the lock and is sent. A `waiting` row whose
    place is gone (it outlived its own lock) is recorded expired in queue."""
    now = now or timezone.now()
    counts = {"waiting_sent": waiting_runs_publish_orphans(), "waiting_expired": 0}
    live = {waiting["celery_task_id"] for waiting in waiting_runs().values()}
    # A row a few seconds old may belong to a place being taken right now.
    stale = TaskRun.objects.filter(
        status=TaskRun.Status.WAITING, queued_at__lt=now - timedelta(seconds=10)
    ).exclude(celery_task_id__in=live)
    for run in stale.only("celery_task_id", "task_name"):
        run_record_expired(
            celery_task_id=run.celery_task_id,
            task_name=run.task_name,
            periodic_task_name=None,
            why="its place behind the running run expired with its lock",
        )
        counts["waiting_expired"] += 1
    return counts


def _deadline(now: datetime, limit, extra: int) -> ExpressionWrapper:
    """now - (limit + extra) seconds, as SQL over each row's own limit."""
    seconds = ExpressionWrapper(
        (limit + Value(extra)) * Value(timedelta(seconds=1), output_field=DurationField()),
        output_field=DurationField(),
    )
    return ExpressionWrapper(Value(now) - seconds, output_field=DateTimeField())


def runs_of_restarted_worker_end(*, worker: str, before: datetime | None = None) -> dict[str, int]:
    """A worker node starts as `worker`, a node name Celery keeps unique while its node
    lives: runs recorded started on it before `before` are its predecessor's, whose
    process died (SIGKILL, the OOM killer, a lost container). They are recorded failed
    and their overlap locks released now, not after their hard time limit + margin
    (the reaper's and the lock's own time-out), so their schedules run again at once.
    A node that is not started again keeps the time-outs: a frozen node looks the same."""
    before = before or timezone.now()
    failed = TaskRun.objects.filter(
        status=TaskRun.Status.STARTED, worker=worker, started_at__lt=before
    ).update(
        status=TaskRun.Status.FAILED,
        finished_at=before,
        error=f"worker lost: its worker {worker} was started again, so the run's process died",
    )
    released = 0
    for key, celery_task_id, started_at in locks_held_by_worker(worker):
        if started_at and datetime.fromisoformat(started_at) < before:
            released += periodic_run_release(key=key, celery_task_id=celery_task_id)
    if failed or released:
        logger.warning(
            "worker %s started again: %d run(s) of its predecessor recorded failed, %d "
            "overlap lock(s) released",
            worker, failed, released,
        )  # fmt: skip
    return {"runs_failed": failed, "locks_released": released}
