"""`/metrics`: the platform's state in the Prometheus text format, with prometheus_client.

Computed when scraped (a fresh registry per request, no state in the web process),
from Redis and a few grouped queries. Names follow celery-exporter where they mean
the same (`celery_queue_length`, `celery_active_worker_count`, `celery_worker_up`,
all labelled `queue_name` / `hostname` as there); the platform's own start with
`batch_platform_`. Apps above ops add theirs with `register(name=..., collect=...)`
from their `AppConfig.ready()` (batches: import rows; reporting: report sends).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ops import conditions, probes, state
from ops.models import KIND_LABELS, Alert
from schedules.models import TaskRun

logger = logging.getLogger(__name__)

Collect = Callable[[], Iterable[Metric]]
PREFIX = "batch_platform_"
PERIODIC_WINDOW_HOURS = 24

_registered: dict[str, Collect] = {}


def register(*, name: str, collect: Collect) -> None:
    """Add `collect()` (yielding prometheus_client metric families) to every scrape."""
    _registered[name] = collect


def _queue_metrics() -> Iterable[Metric]:
    queues = list(settings.PLATFORM_QUEUES)
    read = probes.readings(queues=queues)  # what the pages read: two round trips
    now_ts, depths, heartbeats, beat = read.now_ts, read.depths, read.heartbeats, read.beat

    length = GaugeMetricFamily(
        "celery_queue_length", "Messages waiting in the broker queue.", labels=["queue_name"]
    )
    workers = GaugeMetricFamily(
        "celery_active_worker_count",
        "Live workers consuming the queue.",
        labels=["queue_name"],
    )
    latency = GaugeMetricFamily(
        PREFIX + "queue_latency_seconds",
        "How long the queue's last heartbeat waited to start (or the one waiting now has).",
        labels=["queue_name"],
    )
    age = GaugeMetricFamily(
        PREFIX + "queue_heartbeat_age_seconds",
        "Seconds since a worker last started a heartbeat from the queue.",
        labels=["queue_name"],
    )
    for queue in queues:
        length.add_metric([queue], depths[queue])
        workers.add_metric([queue], sum(queue in qs for qs in read.workers.values()))
        last = heartbeats[queue]["last"]
        waiting = heartbeats[queue]["outstanding_sent_at"]
        waited = [last["latency"]] if last else []
        if waiting and (last is None or waiting > last["started_at"]):
            waited.append(now_ts - waiting)
        if waited:
            latency.add_metric([queue], max(waited))
        if last:
            age.add_metric([queue], max(0.0, now_ts - last["started_at"]))
    yield from (length, workers, latency, age)

    up = GaugeMetricFamily("celery_worker_up", "1 for every worker alive now.", labels=["hostname"])
    for hostname in read.workers:
        up.add_metric([hostname], 1)
    yield up
    if beat["age"] is not None:
        yield GaugeMetricFamily(
            PREFIX + "beat_tick_age_seconds",
            "Seconds since beat last sent a heartbeat (its tick).",
            value=beat["age"],
        )
    resent = CounterMetricFamily(
        PREFIX + "dead_worker_messages_resent",
        "Unacknowledged messages of dead workers sent again.",
    )
    resent.add_metric([], float(state.client().get(state.RECOVERY_RESENT) or 0))
    yield resent


def _alert_metrics() -> Iterable[Metric]:
    counts = {
        (row["kind"], row["severity"]): row["n"]
        for row in Alert.objects.filter(status=Alert.Status.OPEN)
        .values("kind", "severity")
        .annotate(n=Count("id"))
        .order_by()
    }
    # Every known kind appears, at 0 when nothing is open: a rule can tell "none" from
    # "not scraped".
    kinds = sorted({*KIND_LABELS, *conditions.registered_kinds(), *(k for k, _ in counts)})
    family = GaugeMetricFamily(
        PREFIX + "alerts_open", "Open ops alerts.", labels=["kind", "severity"]
    )
    for kind in kinds:
        for severity in Alert.Severity.values:
            family.add_metric([kind, severity], counts.get((kind, severity), 0))
    yield family


def _periodic_metrics() -> Iterable[Metric]:
    since = timezone.now() - timedelta(hours=PERIODIC_WINDOW_HOURS)
    family = GaugeMetricFamily(
        PREFIX + "periodic_task_runs_24h",
        f"Periodic task runs queued in the last {PERIODIC_WINDOW_HOURS} hours, by status.",
        labels=["task_name", "status"],
    )
    rows = (
        TaskRun.objects.filter(queued_at__gte=since)
        .values("task_name", "status")
        .annotate(n=Count("id"))
        .order_by("task_name", "status")
    )
    for row in rows:
        family.add_metric([row["task_name"], row["status"]], row["n"])
    yield family


_BUILT_IN: dict[str, Collect] = {
    "queues": _queue_metrics,
    "alerts": _alert_metrics,
    "periodic": _periodic_metrics,
}


class _PlatformCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            PREFIX + "metrics_collector_up",
            "1 when this part of the metrics could be read on this scrape.",
            labels=["collector"],
        )
        for name, collect in {**_BUILT_IN, **_registered}.items():
            try:
                families = list(collect())
            except Exception:
                # One part down (Redis, say) must not hide the others.
                logger.warning("metrics collector %s failed", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def metrics_exposition() -> tuple[bytes, str]:
    """(body, content type) of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_PlatformCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
