"""Reads for ops: live status of queues, workers and beat; health; dashboard history."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, F, FloatField, Func, Max, Q, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from batches.models import ImportJob
from ops import state
from ops.models import Alert, Heartbeat, QueueSample
from schedules.models import TaskRun

KIND_QUEUE_STALLED = "queue_stalled"
KIND_QUEUE_NO_WORKER = "queue_no_worker"
KIND_QUEUE_LATENCY = "queue_latency"
KIND_QUEUE_DEPTH = "queue_depth"
KIND_BEAT_STALLED = "beat_stalled"
KIND_TASK_FAILING = "task_failing"
KIND_IMPORT_STALLED = "import_stalled"
BEAT_SUBJECT = "beat"

GREEN, AMBER, RED = "green", "amber", "red"
_RANK = {GREEN: 0, AMBER: 1, RED: 2}


@dataclass
class QueueState:
    name: str
    state: str = GREEN
    reasons: list[str] = field(default_factory=list)
    last_heartbeat_at: datetime | None = None
    heartbeat_age: float | None = None
    latency: float | None = None
    depth: int | None = None
    consumers: list[str] | None = None  # None: the workers could not be asked
    thresholds: dict[str, float] = field(default_factory=dict)

    def flag(self, level: str, reason: str) -> None:
        self.reasons.append(reason)
        if _RANK[level] > _RANK[self.state]:
            self.state = level


@dataclass
class PlatformStatus:
    checked_at: datetime
    queues: list[QueueState]
    beat: dict[str, Any]
    workers: dict[str, list[str]] | None
    # {(kind, subject): (severity, message)} for every condition firing now
    conditions: dict[tuple[str, str], tuple[str, str]]
    # kinds whose evaluation succeeded; only these may be resolved
    evaluated_kinds: set[str]
    errors: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        levels = [queue.state for queue in self.queues]
        levels += [severity for severity, _ in self.conditions.values()]
        if self.errors:
            levels.append(AMBER)
        return max(levels, key=_RANK.__getitem__, default=GREEN)


def queue_thresholds(*, queue: str) -> dict[str, float]:
    """Platform thresholds with this queue's overrides (OPS_QUEUE_THRESHOLDS) applied."""
    return {**settings.OPS_THRESHOLDS, **settings.OPS_QUEUE_THRESHOLDS.get(queue, {})}


def queue_depths(*, queues: list[str]) -> dict[str, int]:
    """Messages waiting in Redis per queue, priority sub-lists included; one round trip."""
    pipe = state.client().pipeline(transaction=False)
    for queue in queues:
        for key in state.queue_list_keys(queue):
            pipe.llen(key)
    lengths = iter(pipe.execute())
    return {queue: sum(next(lengths) for _ in state.queue_list_keys(queue)) for queue in queues}


def workers_by_queue(*, timeout: float | None = None) -> dict[str, list[str]]:
    """{worker hostname: [queues it consumes]} from the workers that answer in time."""
    from config.celery_app import app

    replies = app.control.inspect(
        timeout=settings.OPS_INSPECT_TIMEOUT if timeout is None else timeout
    ).active_queues()
    return {
        hostname: sorted(queue["name"] for queue in queues)
        for hostname, queues in (replies or {}).items()
    }


def _heartbeat_state(*, queues: list[str]) -> dict[str, dict[str, Any]]:
    pipe = state.client().pipeline(transaction=False)
    for queue in queues:
        pipe.get(state.heartbeat_last_key(queue))
        pipe.get(state.heartbeat_outstanding_key(queue))
    values = iter(pipe.execute())
    result = {}
    for queue in queues:
        last, outstanding = next(values), next(values)
        result[queue] = {
            "last": json.loads(last) if last else None,
            "outstanding_sent_at": float(outstanding) if outstanding else None,
        }
    return result


def beat_status(*, now_ts: float | None = None) -> dict[str, Any]:
    now_ts = state.now_ts() if now_ts is None else now_ts
    tick = state.client().get(state.BEAT_TICK)
    age = now_ts - float(tick) if tick else None
    ok = age is not None and age <= settings.OPS_BEAT_STALE_AFTER
    return {
        "ok": ok,
        "last_tick_at": datetime.fromtimestamp(float(tick), tz=UTC) if tick else None,
        "age": age,
        "stale_after": settings.OPS_BEAT_STALE_AFTER,
    }


def _task_failure_conditions(*, now: datetime) -> dict[tuple[str, str], tuple[str, str]]:
    """Periodic tasks whose recent runs fail: N in a row (red) or a high failure rate (amber)."""
    since = now - timedelta(hours=settings.OPS_TASK_FAILURE_LOOKBACK_HOURS)
    finished = [TaskRun.Status.FAILED, TaskRun.Status.SUCCEEDED]
    # Usually nothing failed: one query on the (status, queued_at) index and done.
    failing_names = set(
        TaskRun.objects.filter(status=TaskRun.Status.FAILED, queued_at__gte=since)
        .values_list("task_name", flat=True)
        .distinct()
        .order_by()
    )
    if not failing_names:
        return {}
    window = settings.OPS_TASK_FAILURE_WINDOW
    recent = (
        TaskRun.objects.filter(
            task_name__in=failing_names, status__in=finished, queued_at__gte=since
        )
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("task_name")],
                order_by=[F("queued_at").desc(), F("id").desc()],
            )
        )
        .filter(position__lte=window)
        .values_list("task_name", "status", "error")
        .order_by("task_name", "position")
    )
    runs: dict[str, list[tuple[str, str]]] = {}
    for task_name, status, error in recent:
        runs.setdefault(task_name, []).append((status, error))
    conditions = {}
    for task_name, outcomes in runs.items():
        streak = 0
        for status, _ in outcomes:
            if status != TaskRun.Status.FAILED:
                break
            streak += 1
        failures = sum(1 for status, _ in outcomes if status == TaskRun.Status.FAILED)
        rate = failures / len(outcomes)
        last_error = next((error for status, error in outcomes if error), "")[:300]
        if streak >= settings.OPS_TASK_CONSECUTIVE_FAILURES:
            conditions[(KIND_TASK_FAILING, task_name)] = (
                RED,
                f"Periodic task {task_name} failed {streak} times in a row "
                f"(threshold {settings.OPS_TASK_CONSECUTIVE_FAILURES}). Last error: {last_error}",
            )
        elif (
            len(outcomes) >= settings.OPS_TASK_FAILURE_MIN_RUNS
            and rate >= settings.OPS_TASK_FAILURE_RATE
        ):
            conditions[(KIND_TASK_FAILING, task_name)] = (
                AMBER,
                f"Periodic task {task_name} failed {failures} of its last {len(outcomes)} runs "
                f"({rate:.0%}, threshold {settings.OPS_TASK_FAILURE_RATE:.0%}). "
                f"Last error: {last_error}",
            )
    return conditions


def failed_runs_recent(*, limit: int = 10) -> list[TaskRun]:
    return list(
        TaskRun.objects.filter(status=TaskRun.Status.FAILED)
        .select_related("periodic_task")
        .order_by("-queued_at", "-id")[:limit]
    )


def _import_stall_conditions(*, now: datetime) -> dict[tuple[str, str], tuple[str, str]]:
    cutoff = now - timedelta(seconds=settings.OPS_IMPORT_STALL_AFTER)
    stalled = (
        ImportJob.objects.filter(status=ImportJob.Status.RUNNING)
        .annotate(progress_at=Coalesce("last_progress_at", "started_at", "created_at"))
        .filter(progress_at__lt=cutoff)
        .values("id", "dataset", "progress_at")
        .order_by("id")
    )
    return {
        (KIND_IMPORT_STALLED, f"import #{job['id']}"): (
            AMBER,
            f"Import #{job['id']} ({job['dataset']}) is running with no progress for "
            f"{int((now - job['progress_at']).total_seconds() // 60)} min "
            f"(threshold {settings.OPS_IMPORT_STALL_AFTER // 60} min).",
        )
        for job in stalled
    }


def platform_status(*, inspect_workers: bool = True) -> PlatformStatus:
    """Everything the checks, the dashboard, readiness and ops_status show; no writes."""
    now_ts = state.now_ts()
    now = datetime.fromtimestamp(now_ts, tz=UTC)
    queues = list(settings.PLATFORM_QUEUES)
    conditions: dict[tuple[str, str], tuple[str, str]] = {}
    evaluated: set[str] = set()
    errors: list[str] = []

    beat = beat_status(now_ts=now_ts)
    evaluated.add(KIND_BEAT_STALLED)
    if not beat["ok"]:
        conditions[(KIND_BEAT_STALLED, BEAT_SUBJECT)] = (
            RED,
            "Beat has never ticked (no heartbeat sent since Redis was emptied): is celery beat running?"
            if beat["age"] is None
            else f"Beat last ticked {beat['age']:.0f}s ago "
            f"(threshold {settings.OPS_BEAT_STALE_AFTER}s): no periodic task is being sent.",
        )

    workers: dict[str, list[str]] | None = None
    if inspect_workers:
        try:
            workers = workers_by_queue()
            evaluated.add(KIND_QUEUE_NO_WORKER)
        except Exception as exc:
            errors.append(f"could not ask the workers: {type(exc).__name__}: {exc}")
    try:
        depths: dict[str, int] | None = queue_depths(queues=queues)
        heartbeats = _heartbeat_state(queues=queues)
        evaluated |= {KIND_QUEUE_STALLED, KIND_QUEUE_LATENCY, KIND_QUEUE_DEPTH}
    except redis.RedisError as exc:
        depths, heartbeats = None, {queue: {} for queue in queues}
        errors.append(f"could not read Redis: {type(exc).__name__}: {exc}")

    states = []
    for name in queues:
        limits = queue_thresholds(queue=name)
        queue = QueueState(name=name, thresholds=limits)
        hb = heartbeats.get(name) or {}
        last = hb.get("last")
        if last:
            queue.last_heartbeat_at = datetime.fromtimestamp(last["started_at"], tz=UTC)
            queue.heartbeat_age = max(0.0, now_ts - last["started_at"])
            queue.latency = last["latency"]
        if hb.get("outstanding_sent_at") and (
            last is None or hb["outstanding_sent_at"] > last["started_at"]
        ):
            # A heartbeat still waiting is at least this late already.
            waiting = now_ts - hb["outstanding_sent_at"]
            queue.latency = max(queue.latency or 0.0, waiting)
        if workers is not None:
            queue.consumers = sorted(host for host, qs in workers.items() if name in qs)
            if not queue.consumers:
                queue.flag(RED, "no worker consumes this queue")
                conditions[(KIND_QUEUE_NO_WORKER, name)] = (
                    RED,
                    f"No worker is consuming queue '{name}'.",
                )
        if depths is not None:
            queue.depth = depths[name]
            # Measured against beat's last send, not the clock: when beat stops, no
            # queue falls behind, and the beat alert says so once instead of every
            # queue going stale too.
            tick_ts = beat["last_tick_at"].timestamp() if beat["last_tick_at"] else None
            if tick_ts is not None and last:
                lag = tick_ts - last["started_at"]
                if lag > limits["heartbeat_stale"]:
                    queue.flag(RED, f"last heartbeat {queue.heartbeat_age:.0f}s ago")
                    conditions[(KIND_QUEUE_STALLED, name)] = (
                        RED,
                        f"Queue '{name}': no heartbeat started for {queue.heartbeat_age:.0f}s "
                        f"while beat kept sending (threshold {limits['heartbeat_stale']:.0f}s); "
                        "work there is not running.",
                    )
            elif tick_ts is not None:
                queue.flag(AMBER, "no heartbeat recorded yet")
            if queue.latency is not None and queue.latency > limits["latency_amber"]:
                queue.flag(AMBER, f"latency {queue.latency:.1f}s")
                conditions[(KIND_QUEUE_LATENCY, name)] = (
                    AMBER,
                    f"Queue '{name}': heartbeat waited {queue.latency:.1f}s "
                    f"(threshold {limits['latency_amber']:.0f}s).",
                )
            if queue.depth > limits["depth_amber"]:
                queue.flag(AMBER, f"{queue.depth} messages waiting")
                conditions[(KIND_QUEUE_DEPTH, name)] = (
                    AMBER,
                    f"Queue '{name}': {queue.depth} messages waiting "
                    f"(threshold {limits['depth_amber']:.0f}).",
                )
        states.append(queue)

    try:
        conditions.update(_task_failure_conditions(now=now))
        evaluated.add(KIND_TASK_FAILING)
        conditions.update(_import_stall_conditions(now=now))
        evaluated.add(KIND_IMPORT_STALLED)
    except Exception as exc:
        errors.append(f"could not read the database: {type(exc).__name__}: {exc}")

    return PlatformStatus(
        checked_at=now,
        queues=states,
        beat=beat,
        workers=workers,
        conditions=conditions,
        evaluated_kinds=evaluated,
        errors=errors,
    )


def dependency_status() -> dict[str, dict[str, Any]]:
    """Readiness: database, Redis, a broker round trip and heartbeat freshness."""
    status: dict[str, dict[str, Any]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = {"ok": True}
    except Exception as exc:
        status["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        client.ping()
        status["redis"] = {"ok": True}
    except Exception as exc:
        status["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    status["broker"] = broker_round_trip()
    status["heartbeats"] = heartbeat_freshness()
    return status


def broker_round_trip(*, timeout: float = 2.0) -> dict[str, Any]:
    """Publish a message to a private queue through kombu and read it back."""
    from config.celery_app import app

    name = f"ops.health.{uuid.uuid4().hex}"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=int(max(1, timeout)))
            queue = conn.SimpleQueue(name, no_ack=True)
            try:
                token = uuid.uuid4().hex
                queue.put({"token": token})
                message = queue.get(timeout=timeout)
                ok = message.payload == {"token": token}
            finally:
                queue.queue.delete()
                queue.close()
        return {"ok": ok} if ok else {"ok": False, "error": "message came back changed"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def heartbeat_freshness() -> dict[str, Any]:
    """Is beat ticking and has every queue started a heartbeat recently?"""
    try:
        now_ts = state.now_ts()
        beat = beat_status(now_ts=now_ts)
        heartbeats = _heartbeat_state(queues=list(settings.PLATFORM_QUEUES))
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    stale = []
    for queue, hb in heartbeats.items():
        limit = queue_thresholds(queue=queue)["heartbeat_stale"]
        last = hb.get("last")
        if last is None or now_ts - last["started_at"] > limit:
            stale.append(queue)
    result: dict[str, Any] = {"ok": beat["ok"] and not stale}
    if not beat["ok"]:
        result["beat"] = "beat has not ticked" + (
            f" for {beat['age']:.0f}s" if beat["age"] is not None else ""
        )
    if stale:
        result["stale_queues"] = stale
    return result


# --- dashboard history ----------------------------------------------------------------


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
        .select_related("acknowledged_by")
        .order_by("-resolved_at")[:limit]
    )


def alert_counts() -> dict[str, int]:
    return Alert.objects.aggregate(
        open=Count("id", filter=Q(status=Alert.Status.OPEN)),
        red=Count("id", filter=Q(status=Alert.Status.OPEN, severity=Alert.Severity.RED)),
    )
