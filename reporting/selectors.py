"""Reads for reports about the platform itself (imports, periodic runs, alerts) and for
the reporting admin. Every aggregate runs in PostgreSQL; the number of queries does not
grow with the number of import jobs, runs or alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from batches.models import ImportJob
from ops.models import Alert
from reporting.models import ReportDefinition, ReportRun
from schedules.models import TaskRun

IMPORT_FAILURE_STATUSES = [ImportJob.Status.FAILED, ImportJob.Status.PARTIALLY_FAILED]


def imports_of_day(*, start: dt.datetime, end: dt.datetime, limit: int = 20) -> dict[str, Any]:
    """Two queries: totals of the import jobs created in [start, end), and the failures."""
    jobs = ImportJob.objects.filter(created_at__gte=start, created_at__lt=end)
    totals = jobs.aggregate(
        runs=Count("id"),
        rows_in=Coalesce(Sum(F("rows_new") + F("rows_updated") + F("rows_unchanged")), Value(0)),
        rows_new=Coalesce(Sum("rows_new"), Value(0)),
        rows_rejected=Coalesce(Sum("rows_rejected"), Value(0)),
        failures=Count("id", filter=Q(status__in=IMPORT_FAILURE_STATUSES)),
    )
    totals["failed_jobs"] = list(
        jobs.filter(status__in=IMPORT_FAILURE_STATUSES)
        .order_by("created_at")
        .values("id", "dataset", "status", "rows_total", "rows_rejected", "error")[:limit]
    )
    return totals


PERIODIC_PROBLEM_STATUSES = [TaskRun.Status.FAILED, TaskRun.Status.SKIPPED, TaskRun.Status.MISSED]


def periodic_runs_of_day(
    *, start: dt.datetime, end: dt.datetime, limit: int = 20
) -> dict[str, Any]:
    """Two queries: periodic runs queued in [start, end) by outcome, and the problem runs."""
    runs = TaskRun.objects.filter(queued_at__gte=start, queued_at__lt=end)
    totals = runs.aggregate(
        runs=Count("id"),
        succeeded=Count("id", filter=Q(status=TaskRun.Status.SUCCEEDED)),
        failed=Count("id", filter=Q(status=TaskRun.Status.FAILED)),
        skipped=Count("id", filter=Q(status=TaskRun.Status.SKIPPED)),
        missed=Count("id", filter=Q(status=TaskRun.Status.MISSED)),
    )
    totals["problems"] = list(
        runs.filter(status__in=PERIODIC_PROBLEM_STATUSES)
        .order_by("queued_at")
        .values("task_name", "status", "queued_at", "error")[:limit]
    )
    return totals


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
