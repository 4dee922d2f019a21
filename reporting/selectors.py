"""Reads for reports about the platform itself (imports, periodic runs, alerts, queues) and
for the reporting admin. Every aggregate runs in PostgreSQL; the number of queries does not
grow with the number of import jobs, runs or alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    FloatField,
    Max,
    Min,
    Model,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from batches.models import ImportJob
from ops.models import Alert, Heartbeat, QueueSample, kind_label
from reporting.models import ReportDefinition, ReportRun
from schedules.models import TaskRun

IMPORT_FAILURE_STATUSES = [ImportJob.Status.FAILED, ImportJob.Status.PARTIALLY_FAILED]
# "expired in queue" is a TaskRun status newer than this module; counted when it exists.
PERIODIC_EXPIRED = str(getattr(TaskRun.Status, "EXPIRED", "expired"))
PERIODIC_PROBLEM_STATUSES = [
    str(TaskRun.Status.FAILED), str(TaskRun.Status.SKIPPED), str(TaskRun.Status.MISSED),
    PERIODIC_EXPIRED,
]  # fmt: skip
PERIODIC_OUTCOMES = [str(TaskRun.Status.SUCCEEDED), *PERIODIC_PROBLEM_STATUSES]


def _of_window(model: type[Model], stamp: str, start: dt.datetime, end: dt.datetime) -> QuerySet:
    """The rows of `model` whose `stamp` falls in [start, end) (an index range scan)."""
    return model._default_manager.filter(**{f"{stamp}__gte": start, f"{stamp}__lt": end})


def _first_with_status(
    rows: QuerySet, *, statuses: Sequence[str], order_by: str, fields: list[str], limit: int
) -> list[Mapping[str, Any]]:
    return list(rows.filter(status__in=statuses).order_by(order_by).values(*fields)[:limit])


def _jobs_of(start: dt.datetime, end: dt.datetime) -> QuerySet[ImportJob]:
    return _of_window(ImportJob, "created_at", start, end)


def imports_by_dataset(*, start: dt.datetime, end: dt.datetime) -> list[Mapping[str, Any]]:
    """One query: per dataset, the import jobs created in [start, end) and their rows."""
    return list(
        _jobs_of(start, end)
        .values("dataset")
        .annotate(
            jobs=Count("id"),
            rows_new=Coalesce(Sum("rows_new"), Value(0)),
            rows_updated=Coalesce(Sum("rows_updated"), Value(0)),
            rows_unchanged=Coalesce(Sum("rows_unchanged"), Value(0)),
            rows_rejected=Coalesce(Sum("rows_rejected"), Value(0)),
            failures=Count("id", filter=Q(status__in=IMPORT_FAILURE_STATUSES)),
        )
        .order_by("dataset")
    )


def import_failures(
    *, start: dt.datetime, end: dt.datetime, limit: int = 20
) -> list[Mapping[str, Any]]:
    """One query: the failed or partially failed import jobs created in [start, end)."""
    return _first_with_status(
        _jobs_of(start, end),
        statuses=IMPORT_FAILURE_STATUSES,
        order_by="created_at",
        fields=["id", "dataset", "status", "rows_total", "rows_rejected", "error", "created_at"],
        limit=limit,
    )


def imports_of_day(*, start: dt.datetime, end: dt.datetime, limit: int = 20) -> dict[str, Any]:
    """Two queries: totals of the import jobs created in [start, end), and the failures."""
    datasets = imports_by_dataset(start=start, end=end)
    return {
        "runs": sum(row["jobs"] for row in datasets),
        "rows_in": sum(
            row["rows_new"] + row["rows_updated"] + row["rows_unchanged"] for row in datasets
        ),
        "rows_new": sum(row["rows_new"] for row in datasets),
        "rows_rejected": sum(row["rows_rejected"] for row in datasets),
        "failures": sum(row["failures"] for row in datasets),
        "failed_jobs": import_failures(start=start, end=end, limit=limit),
    }


def _runs_of(start: dt.datetime, end: dt.datetime) -> QuerySet[TaskRun]:
    return _of_window(TaskRun, "queued_at", start, end)


def periodic_runs_by_task(*, start: dt.datetime, end: dt.datetime) -> list[Mapping[str, Any]]:
    """One query: per task, its runs queued in [start, end) by outcome."""
    tasks: dict[str, dict[str, Any]] = {}
    counts = (
        _runs_of(start, end)
        .values_list("task_name", "status")
        .annotate(count=Count("id"))
        .order_by("task_name", "status")
    )
    for task_name, status, count in counts:
        task = tasks.setdefault(
            task_name, {"task_name": task_name, "runs": 0, **dict.fromkeys(PERIODIC_OUTCOMES, 0)}
        )
        task["runs"] += count
        task[status] = task.get(status, 0) + count
    return list(tasks.values())


def periodic_problems(
    *, start: dt.datetime, end: dt.datetime, limit: int = 20
) -> list[Mapping[str, Any]]:
    """One query: the failed, skipped, missed and expired runs queued in [start, end)."""
    return _first_with_status(
        _runs_of(start, end),
        statuses=PERIODIC_PROBLEM_STATUSES,
        order_by="queued_at",
        fields=["task_name", "status", "queued_at", "error"],
        limit=limit,
    )


def periodic_runs_of_day(
    *, start: dt.datetime, end: dt.datetime, limit: int = 20
) -> dict[str, Any]:
    """Two queries: periodic runs queued in [start, end) by outcome, and the problem runs."""
    tasks = periodic_runs_by_task(start=start, end=end)
    totals = {"runs": sum(task["runs"] for task in tasks)}
    for status in PERIODIC_OUTCOMES:
        totals[status] = sum(task[status] for task in tasks)
    return {**totals, "problems": periodic_problems(start=start, end=end, limit=limit)}


def alerts_of_day(*, start: dt.datetime, end: dt.datetime, limit: int = 20) -> dict[str, Any]:
    """Two queries: ops alerts opened in [start, end), resolved in it, and still open at
    its end (now, for a day not over yet); and those alerts, oldest first."""
    opened = Q(first_seen_at__gte=start)
    resolved = Q(resolved_at__gte=start, resolved_at__lt=end)
    still_open = Q(resolved_at__isnull=True) | Q(resolved_at__gte=end)
    alerts = Alert.objects.filter(first_seen_at__lt=end).filter(opened | resolved | still_open)
    counts = alerts.aggregate(
        opened=Count("id", filter=opened),
        resolved=Count("id", filter=resolved),
        still_open=Count("id", filter=still_open),
    )
    items = alerts.order_by("first_seen_at", "id").values(
        "kind", "subject", "severity", "first_seen_at", "resolved_at", "message"
    )[:limit]
    return {
        **counts,
        "items": [
            {
                **item,
                "kind_label": kind_label(item["kind"]),
                "open_at_end": item["resolved_at"] is None or item["resolved_at"] >= end,
            }
            for item in items
        ],
    }


class Percentile(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def queues_of_day(*, start: dt.datetime, end: dt.datetime) -> list[Mapping[str, Any]]:
    """Two queries: per queue, how long heartbeats waited in it (latency, seconds) and
    how deep it was when sampled, over [start, end). Every platform queue is listed."""
    latency = (
        _of_window(Heartbeat, "started_at", start, end)
        .values("queue")
        .annotate(
            heartbeats=Count("id"),
            latency_avg=Avg("latency"),
            latency_p95=Percentile("latency", fraction=0.95),
            latency_max=Max("latency"),
        )
        .order_by()
    )
    depth = (
        _of_window(QueueSample, "sampled_at", start, end)
        .values("queue")
        .annotate(
            samples=Count("id"),
            depth_avg=Avg("depth"),
            depth_max=Max("depth"),
            consumers_min=Min("consumers"),
        )
        .order_by()
    )
    queues: dict[str, dict[str, Any]] = {
        name: {"queue": name, "heartbeats": 0, "samples": 0} for name in settings.PLATFORM_QUEUES
    }
    for row in [*latency, *depth]:
        queues.setdefault(row["queue"], {"queue": row["queue"], "heartbeats": 0, "samples": 0})
        queues[row["queue"]].update(row)
    return list(queues.values())


def open_alerts(*, limit: int = 20) -> dict[str, Any]:
    """Two queries: how many ops alerts are open now, and the newest of them."""
    alerts = Alert.objects.filter(status=Alert.Status.OPEN)
    return {
        "count": alerts.count(),
        "items": list(
            alerts.order_by("-last_seen_at").values(
                "kind", "subject", "severity", "first_seen_at", "last_seen_at"
            )[:limit]
        ),
    }


def report_runs_for_admin() -> QuerySet:
    return ReportRun.objects.select_related("definition", "requested_by")


def definitions_enabled() -> QuerySet:
    return ReportDefinition.objects.filter(enabled=True)
