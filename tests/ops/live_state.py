"""The state beat, the workers and the checks leave in Redis, written as they write it,
and a night of activity: what the ops pages read, for tests and benchmarks/ops_pages.py."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone


def register_workers(count: int, *, queues=None, first: int = 0) -> list[str]:
    """Liveness records of `count` workers, as each worker's liveness thread writes them;
    worker n (from `first`) consumes queue n (round robin), or every queue in `queues`."""
    from ops import recovery, state

    platform = list(settings.PLATFORM_QUEUES)
    instances = []
    for n in range(first, first + count):
        instance = f"w{n}@host:{1000 + n}:0000000{n}"
        recovery.worker_instance_record(
            instance=instance,
            hostname=f"w{n}@host",
            queues=list(queues) if queues else [platform[n % len(platform)]],
            since=state.now_ts(),
        )
        instances.append(instance)
    return instances


def platform_running(*, workers: int | dict[str, list[str]] = 0) -> None:
    """Beat ticking, every queue's heartbeat just started, the checks just run, and
    `workers` workers alive: that many (worker n on queue n, round robin), or these
    {node name: [queues]}."""
    from ops import recovery, state
    from ops.services import heartbeat_record

    now = state.now_ts()
    state.client().set(state.BEAT_TICK, now)
    state.client().set(state.CHECKS_LAST, now)
    for queue in settings.PLATFORM_QUEUES:
        heartbeat_record(
            queue=queue,
            celery_task_id=f"hb-{queue}-{now}",
            sent_at_ts=now - 0.04,
            started_at_ts=now,
            worker="w0@host",
        )
    if isinstance(workers, int):
        register_workers(workers)
        return
    for n, (hostname, queues) in enumerate(sorted(workers.items())):
        recovery.worker_instance_record(
            instance=f"{hostname}:{n}:named", hostname=hostname, queues=queues, since=now
        )


def busy_night_write(*, imports: int, runs: int, alerts: int, reports: int) -> None:
    """Imports and periodic runs of every outcome, open alerts and report definitions."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from batches.models import ImportJob
    from ops.services import alert_raise
    from reporting.models import ReportDefinition
    from schedules.models import TaskRun

    now = timezone.now()
    statuses = ["succeeded", "running", "failed", "partially_failed"]
    ImportJob.objects.bulk_create(
        ImportJob(dataset="products", status=statuses[n % 4], original_name=f"f{n}.csv")
        for n in range(imports)
    )
    outcomes = ["succeeded", "failed", "skipped", "missed", "expired", "started"]
    TaskRun.objects.bulk_create(
        TaskRun(
            task_name=f"team.task_{n % 5}",
            status=outcomes[n % 6],
            queued_at=now - dt.timedelta(minutes=n),
        )
        for n in range(runs)
    )
    for n in range(alerts):
        alert_raise(kind="warehouse_sync_late", subject=f"site {n}", message="late",
                    severity="amber")  # fmt: skip
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="18", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="Europe/Berlin",
    )  # fmt: skip
    first = ReportDefinition.objects.count()
    for n in range(first, first + reports):
        task = PeriodicTask.objects.create(
            name=f"report {n}", task="reporting.send_report", crontab=crontab
        )
        ReportDefinition.objects.create(
            name=f"Report {n}", to_recipients="a@example.com", periodic_task=task
        )
