"""Run history: one TaskRun per run of a periodic task, from queued (or refused) to
its outcome, matched by Celery task id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from schedules import selectors
from schedules.models import TaskRun
from schedules.signals import periodic_run_skipped


def run_history_excluded(*, task_name: str) -> bool:
    """Successful runs of these tasks are not recorded (SCHEDULES_HISTORY_EXCLUDE)."""
    return task_name in settings.SCHEDULES_HISTORY_EXCLUDE


def _holder_reason(held_by: dict[str, Any] | None, waiting: dict[str, Any] | None = None) -> str:
    behind = (
        f"; run {waiting['celery_task_id']} already waits behind it (queued at "
        f"{waiting.get('queued_at') or '?'})"
        if waiting and waiting.get("celery_task_id")
        else ""
    )
    if not held_by or not held_by.get("celery_task_id"):
        return "previous run still holds the lock" + behind
    verb = "running" if held_by.get("started_at") else "queued"
    since = held_by.get("started_at") or held_by.get("queued_at") or "?"
    where = f" on {held_by['worker']}" if held_by.get("worker") else ""
    who = held_by.get("queued_by") or held_by.get("trigger") or "unknown"
    via = f" ({held_by['trigger']})" if held_by.get("queued_by") and held_by.get("trigger") else ""
    queued_at = f" at {held_by['queued_at']}" if held_by.get("queued_at") else ""
    return (
        f"previous run {held_by['celery_task_id']} still holds the lock: {verb} since "
        f"{since}{where}, queued by {who}{via}{queued_at}{behind}"
    )


def run_record_queued(
    *,
    task_name: str,
    periodic_task_id: int | None,
    trigger: str,
    queued_by: str = "",
    celery_task_id: str,
    queued_at: datetime | None = None,
    time_limit: float | None = None,
    waiting_behind: dict[str, Any] | None = None,
) -> TaskRun | None:
    """A run was sent to the broker (beat or manual), or waits behind the running one
    (`waiting_behind`: its holder, policy queue one); None for an excluded task."""
    if run_history_excluded(task_name=task_name) and trigger != TaskRun.Trigger.MANUAL:
        return None
    values: dict[str, Any] = {
        "task_name": task_name,
        "periodic_task_id": periodic_task_id,
        "trigger": trigger,
        "queued_by": queued_by,
        "queued_at": queued_at or timezone.now(),
    }
    status = TaskRun.Status.QUEUED
    if waiting_behind is not None:
        status = TaskRun.Status.WAITING
        values["error"] = "waiting: " + _holder_reason(waiting_behind)
        _waiting_runs_superseded(task_name=task_name, periodic_task_id=periodic_task_id)
    if time_limit:
        values["time_limit"] = int(time_limit)
    try:
        with transaction.atomic():
            return TaskRun.objects.create(celery_task_id=celery_task_id, status=status, **values)
    except IntegrityError:
        # The worker was faster and already wrote the row: add what only we know.
        TaskRun.objects.filter(celery_task_id=celery_task_id).update(**values)
        return TaskRun.objects.get(celery_task_id=celery_task_id)


def _waiting_runs_superseded(*, task_name: str, periodic_task_id: int | None) -> None:
    """A run just took the schedule's one waiting slot, so any older row of the schedule
    still `waiting` is not in it: its slot expired (its holder's worker died and the
    lock timed out) or Redis lost it. It will never run; say so."""
    if periodic_task_id is None:
        return
    TaskRun.objects.filter(
        periodic_task_id=periodic_task_id, task_name=task_name, status=TaskRun.Status.WAITING
    ).update(
        status=TaskRun.Status.EXPIRED,
        finished_at=timezone.now(),
        error="expired while waiting: its waiting slot expired with its holder's lock (the "
        "holder's worker died) or was lost with Redis's data; not run",
    )


def run_record_skipped(
    *,
    task_name: str,
    periodic_task_id: int | None,
    trigger: str,
    queued_by: str = "",
    celery_task_id: str | None = None,
    held_by: dict[str, Any] | None = None,
    waiting: dict[str, Any] | None = None,
) -> TaskRun:
    """The overlap lock refused a run: record it and tell listeners (ops).

    The row's error names the holder (Celery task id, running/queued since, worker,
    who queued it) and the run waiting behind it, so the admin shows why runs were
    skipped while a dead run's lock waits out its time-out.
    """
    reason = _holder_reason(held_by, waiting)
    run = TaskRun.objects.create(
        task_name=task_name,
        periodic_task_id=periodic_task_id,
        status=TaskRun.Status.SKIPPED,
        trigger=trigger,
        queued_by=queued_by,
        queued_at=timezone.now(),
        finished_at=timezone.now(),
        error=reason,
    )
    periodic_run_skipped.send(
        sender=TaskRun,
        task_name=task_name,
        periodic_task_id=periodic_task_id,
        celery_task_id=celery_task_id,
        reason=reason,
        held_by=held_by,
        outcome=TaskRun.Status.SKIPPED,
    )
    return run


def run_record_promoted(*, celery_task_id: str) -> None:
    """A waiting run took the lock and was sent: it is queued from now on."""
    TaskRun.objects.filter(celery_task_id=celery_task_id, status=TaskRun.Status.WAITING).update(
        status=TaskRun.Status.QUEUED, error=""
    )


def run_record_not_sent(*, celery_task_id: str, reason: str) -> None:
    """The run was never published (its lock was released again): skipped, saying why."""
    TaskRun.objects.filter(
        celery_task_id=celery_task_id, status__in=[TaskRun.Status.QUEUED, TaskRun.Status.WAITING]
    ).update(status=TaskRun.Status.SKIPPED, finished_at=timezone.now(), error=reason[:10000])


def run_record_expired(
    *,
    celery_task_id: str,
    task_name: str,
    periodic_task_name: str | None,
    why: str,
    held_by: dict[str, Any] | None = None,
) -> TaskRun | None:
    """A run that waited past its overlap lock's lifetime and is not executed: recorded
    *expired in queue* with how long it waited, and listeners told (as for a skip)."""
    now = timezone.now()
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().filter(celery_task_id=celery_task_id).first()
        if run is None:
            if run_history_excluded(task_name=task_name):
                return None
            _late_run_row_create(
                celery_task_id=celery_task_id,
                task_name=task_name,
                periodic_task_name=periodic_task_name,
                fields={"status": TaskRun.Status.QUEUED, "queued_at": now},
                on_conflict_update=None,
            )
            run = TaskRun.objects.select_for_update().get(celery_task_id=celery_task_id)
        waited = (now - run.queued_at).total_seconds() if run.queued_at else 0.0
        run.status = TaskRun.Status.EXPIRED
        run.finished_at = now
        run.started_at = None
        run.duration = None
        run.error = (
            f"expired in queue after waiting {waited:.1f} s: {why}; not run"
            + (f" ({_holder_reason(held_by)})" if held_by else "")
        )[:10000]
        run.save(update_fields=["status", "finished_at", "started_at", "duration", "error"])
    periodic_run_skipped.send(
        sender=TaskRun,
        task_name=task_name,
        periodic_task_id=run.periodic_task_id,
        celery_task_id=celery_task_id,
        reason=run.error,
        held_by=held_by,
        outcome=TaskRun.Status.EXPIRED,
    )
    return run


def run_record_missed(
    *,
    task_name: str,
    periodic_task_id: int | None,
    due_at: datetime,
    missed: int,
    reason: str,
    at: datetime | None = None,
) -> TaskRun:
    """Due times not run: catch-up policy "skip" dropped those that passed while beat was
    down, or beat could not send one (`at`: when that was, if recorded later).

    A record dated `at` names its first due time, so one already there for the same
    schedule and due time is brought up to date rather than doubled: a beat killed
    after recording but before sending leaves its successor the same due times to
    record, and a send that then fails stands for them all."""
    error = f"{missed} due time(s) missed from {due_at.isoformat()}: {reason}"
    if at is not None and periodic_task_id is not None:
        earlier = (
            TaskRun.objects.filter(
                periodic_task_id=periodic_task_id, status=TaskRun.Status.MISSED, queued_at=at
            )
            .order_by("id")
            .first()
        )
        if earlier is not None:
            earlier.finished_at = timezone.now()
            earlier.error = error
            earlier.save(update_fields=["finished_at", "error"])
            return earlier
    return TaskRun.objects.create(
        task_name=task_name,
        periodic_task_id=periodic_task_id,
        status=TaskRun.Status.MISSED,
        trigger=TaskRun.Trigger.BEAT,
        queued_at=at or timezone.now(),
        finished_at=timezone.now(),
        error=error,
    )


def run_record_started(
    *,
    celery_task_id: str,
    task_name: str,
    worker: str,
    periodic_task_name: str | None,
    time_limit: float | None = None,
) -> None:
    """A worker started a run. Also a redelivered message (same celery_task_id): a row
    the reaper marked failed as lost comes back to life as started, outcome cleared."""
    now = timezone.now()
    started: dict[str, Any] = {
        "status": TaskRun.Status.STARTED,
        "started_at": now,
        "worker": worker,
        "error": "",
        "finished_at": None,
        "duration": None,
    }
    if time_limit:
        started["time_limit"] = int(time_limit)
    updated = TaskRun.objects.filter(celery_task_id=celery_task_id).update(**started)
    if updated or run_history_excluded(task_name=task_name):
        return
    # Sent without going through PeriodicOnceTask.apply_async (a plain task beat sent,
    # or a redelivered message whose row was never written): start a row here.
    _late_run_row_create(
        celery_task_id=celery_task_id,
        task_name=task_name,
        periodic_task_name=periodic_task_name,
        fields={"queued_at": now, **started},
        on_conflict_update=started,
    )


def _late_run_row_create(
    *,
    celery_task_id: str,
    task_name: str,
    periodic_task_name: str | None,
    fields: dict[str, Any],
    on_conflict_update: dict[str, Any] | None,
) -> None:
    """A row for a run first seen at its start or end; if another receiver wrote it in
    the meantime, apply `on_conflict_update` to that row (or keep it as it is)."""
    periodic_task_id = (
        selectors.periodic_task_id_for_name(name=periodic_task_name) if periodic_task_name else None
    )
    try:
        with transaction.atomic():
            TaskRun.objects.create(
                celery_task_id=celery_task_id,
                task_name=task_name,
                periodic_task_id=periodic_task_id,
                trigger=TaskRun.Trigger.BEAT if periodic_task_name else TaskRun.Trigger.MANUAL,
                **fields,
            )
    except IntegrityError:
        if on_conflict_update:
            TaskRun.objects.filter(celery_task_id=celery_task_id).update(**on_conflict_update)


def _excluded_run_create(
    *,
    celery_task_id: str,
    task_name: str,
    status: str,
    error: str,
    started_at: datetime | None,
    worker: str,
    periodic_task_name: str | None,
) -> None:
    """An excluded task's failure, or its first success after a failure, gets a row.

    Recording the success after a failure keeps "N failures in a row" (ops' alert)
    exact: two adjacent recorded failures had no success between them.
    """
    if status == TaskRun.Status.RETRIED:
        return
    if status == TaskRun.Status.SUCCEEDED:
        last = (
            TaskRun.objects.filter(task_name=task_name)
            .exclude(status__in=[TaskRun.Status.SKIPPED, TaskRun.Status.MISSED])
            .order_by("-queued_at", "-id")
            .values_list("status", flat=True)
            .first()
        )
        if last != TaskRun.Status.FAILED:
            return
    now = timezone.now()
    _late_run_row_create(
        celery_task_id=celery_task_id,
        task_name=task_name,
        periodic_task_name=periodic_task_name,
        fields={
            "status": status,
            "queued_at": started_at or now,
            "started_at": started_at,
            "finished_at": now,
            "duration": now - started_at if started_at else None,
            "worker": worker,
            "error": error[:10000],
        },
        # The same outcome was recorded already (task_failure after task_postrun).
        on_conflict_update=None,
    )


def run_record_finished(
    *,
    celery_task_id: str,
    status: str,
    error: str = "",
    task_name: str = "",
    started_at: datetime | None = None,
    worker: str = "",
    periodic_task_name: str | None = None,
) -> None:
    """Success, failure or retry of a run, matched by its Celery task id.

    A run the reaper marked failed as lost still gets its real outcome when it
    arrives late. task_name and the rest are only used for an excluded task, whose
    run has no row yet.
    """
    now = timezone.now()
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().filter(celery_task_id=celery_task_id).first()
        if run is None:
            if task_name and run_history_excluded(task_name=task_name):
                _excluded_run_create(
                    celery_task_id=celery_task_id,
                    task_name=task_name,
                    status=status,
                    error=error,
                    started_at=started_at,
                    worker=worker,
                    periodic_task_name=periodic_task_name,
                )
            return
        reaped_outcome = run.reaped_at is not None and run.finished_at == run.reaped_at
        if (
            run.status in (TaskRun.Status.SUCCEEDED, TaskRun.Status.FAILED)
            and status == TaskRun.Status.FAILED
            and not reaped_outcome
        ):
            return  # the outcome is already recorded (task_failure after task_postrun)
        run.status = status
        run.error = error[:10000]
        if status == TaskRun.Status.RETRIED:
            run.save(update_fields=["status", "error"])
            return
        run.finished_at = now
        run.duration = now - run.started_at if run.started_at else None
        run.save(update_fields=["status", "error", "finished_at", "duration"])
