"""Reads for the ops dashboard: 24 h history of latency and depth, alerts, failed runs.

The live state (queues, beat, workers, conditions) is `ops.conditions.platform_status`;
the readings behind it are in `ops.probes`, readiness in `ops.health`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, FloatField, Func, Max, Q
from django.utils import timezone

from ops.models import Alert, Heartbeat, QueueSample
from schedules.models import TaskRun


class _EpochBucket(Func):
    """floor(epoch(x) / seconds) * seconds: a time bucket PostgreSQL computes in the query."""

    output_field = FloatField()

    def __init__(self, expression: Any, seconds: int) -> None:
        super().__init__(expression, seconds=seconds)

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        seconds = int(self.extra["seconds"])
        return f"floor(extract(epoch from {sql}) / {seconds}) * {seconds}", params


def queue_history(
    *, hours: int = 24, bucket_seconds: int = 900
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{queue: {"latency": [(epoch, max s)], "depth": [(epoch, max)]}} over `hours`."""
    since = timezone.now() - timedelta(hours=hours)
    history: dict[str, dict[str, list[tuple[float, float]]]] = {
        queue: {"latency": [], "depth": []} for queue in settings.PLATFORM_QUEUES
    }
    series = [
        ("latency", Heartbeat.objects.filter(started_at__gte=since), "started_at"),
        ("depth", QueueSample.objects.filter(sampled_at__gte=since), "sampled_at"),
    ]
    for measure, rows, time_field in series:
        highest_per_bucket = (
            rows.annotate(bucket=_EpochBucket(F(time_field), bucket_seconds))
            .values("queue", "bucket")
            .annotate(value=Max(measure))
            .order_by("queue", "bucket")
        )
        for row in highest_per_bucket:
            history.setdefault(row["queue"], {"latency": [], "depth": []})[measure].append(
                (row["bucket"], float(row["value"]))
            )
    return history


def queue_latency_summary(*, hours: int = 24) -> dict[str, dict[str, float | int | None]]:
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        Heartbeat.objects.filter(started_at__gte=since)
        .values("queue")
        .annotate(avg=Avg("latency"), worst=Max("latency"), count=Count("id"))
        .order_by("queue")
    )
    return {
        row["queue"]: {"avg": row["avg"], "max": row["worst"], "count": row["count"]}
        for row in rows
    }


def alerts_open() -> list[Alert]:
    return list(
        Alert.objects.filter(status=Alert.Status.OPEN)
        .select_related("acknowledged_by")
        .order_by("-severity", "-last_seen_at")
    )


def alerts_recent(*, limit: int = 20) -> list[Alert]:
    return list(
        Alert.objects.filter(status=Alert.Status.RESOLVED)
        .select_related("acknowledged_by", "resolved_by")
        .order_by("-resolved_at")[:limit]
    )


def alert_counts() -> dict[str, int]:
    return Alert.objects.aggregate(
        open=Count("id", filter=Q(status=Alert.Status.OPEN)),
        red=Count("id", filter=Q(status=Alert.Status.OPEN, severity=Alert.Severity.RED)),
    )


def failed_runs_recent(*, limit: int = 10) -> list[TaskRun]:
    return list(
        TaskRun.objects.filter(status=TaskRun.Status.FAILED)
        .select_related("periodic_task")
        .order_by("-queued_at", "-id")[:limit]
    )
