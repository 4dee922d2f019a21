"""Conditions: the rules that turn probe readings into alert conditions, with their texts.

`platform_status()` evaluates every rule and writes nothing; `ops.services.ops_checks_run`
turns its conditions into alerts. Rules about Redis, beat, the workers and the queues
are built in; a cause that hits several queues (no worker, Redis down) is one condition
listing them, so one incident is one alert. Apps
above ops add their own with `register(kind=..., evaluate=...)` from their
`AppConfig.ready()` (batches registers `import_stalled`): ops never imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings

from ops import probes, state
from ops.levels import AMBER, GREEN, RED, Firing, worst
from ops.models import Alert
from ops.task_failures import task_failure_conditions

KIND_QUEUE_STALLED = "queue_stalled"
KIND_QUEUE_NO_WORKER = "queue_no_worker"
KIND_QUEUE_LATENCY = "queue_latency"
KIND_QUEUE_DEPTH = "queue_depth"
KIND_BEAT_STALLED = "beat_stalled"
KIND_TASK_FAILING = "task_failing"
KIND_REDIS_UNREACHABLE = "redis_unreachable"
BEAT_SUBJECT = "beat"
# One cause, one alert: every queue without a worker is listed in one `queue_no_worker`
# alert on this subject, and Redis not answering is one alert however much it stops.
WORKERS_SUBJECT = "workers"
REDIS_SUBJECT = "redis"

Evaluate = Callable[..., Firing]  # called as evaluate(now=<aware datetime>)
StillFiring = Callable[..., Iterable[str]]  # called as still_firing(subjects=[...])


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
        self.state = worst([self.state, level])


@dataclass
class PlatformStatus:
    checked_at: datetime
    queues: list[QueueState]
    beat: dict[str, Any]
    workers: dict[str, list[str]] | None  # None: Redis could not be read
    # {(kind, subject): (severity, message)} for every condition firing now
    conditions: dict[tuple[str, str], tuple[str, str]]
    # kinds whose evaluation succeeded; only these may be resolved
    evaluated_kinds: set[str]
    errors: list[str] = field(default_factory=list)
    # {(kind, subject): severity} of the alerts open when the status was read
    open_alerts: dict[tuple[str, str], str] = field(default_factory=dict)
    # open alerts raised by an app whose condition no longer holds: to resolve
    cleared: set[tuple[str, str]] = field(default_factory=set)
    # When the checks last ran, and whether that is too long ago for the open alerts of
    # the kinds a page does not evaluate itself to be current (see platform_status).
    checks_last_at: datetime | None = None
    checks_stale: bool = False

    @property
    def state(self) -> str:
        """The worst of the queue states, what fires now and the alerts still open."""
        levels = [queue.state for queue in self.queues]
        levels += [severity for severity, _ in self.conditions.values()]
        levels += [
            severity
            for (kind, subject), severity in self.open_alerts.items()
            # Kinds evaluated just now are in `conditions`; cleared ones are being resolved.
            if kind not in self.evaluated_kinds and (kind, subject) not in self.cleared
        ]
        if self.errors or self.checks_stale:
            levels.append(AMBER)
        return worst(levels)

    def fire(self, kind: str, subject: str, severity: str, message: str) -> None:
        self.conditions[(kind, subject)] = (severity, message)


def queue_thresholds(*, queue: str) -> dict[str, float]:
    """Platform thresholds with this queue's overrides (OPS_QUEUE_THRESHOLDS) applied."""
    return {**settings.OPS_THRESHOLDS, **settings.OPS_QUEUE_THRESHOLDS.get(queue, {})}


# --- conditions registered by the apps -----------------------------------------------------


# Conditions read from the database, one function per alert kind. Ops' own are listed
# here; apps above ops add theirs through register().
_evaluators: dict[str, Evaluate] = {KIND_TASK_FAILING: task_failure_conditions}
# Kinds an app raises itself when something happens; the checks only resolve them.
_resolvers: dict[str, StillFiring] = {}


def register(
    *, kind: str, evaluate: Evaluate | None = None, still_firing: StillFiring | None = None
) -> None:
    """Make the checks keep alerts of `kind` true to their condition; give exactly one of:

    - `evaluate(now=...)` returns {subject: (severity, message)} for what fires now: the
      checks open those alerts and resolve the open ones of `kind` not in it;
    - `still_firing(subjects=[...])` is for a kind the app raises itself when something
      happens (an import failed): given the subjects of its open alerts, it returns
      those whose condition still holds, and the checks resolve the others.

    Called from the registering app's `AppConfig.ready()`. Registering another function
    for a kind already taken is refused: two rules would resolve each other's alerts.
    """
    if (evaluate is None) == (still_firing is None):
        raise TypeError("give exactly one of evaluate= or still_firing=")
    function: Evaluate | StillFiring = evaluate or still_firing  # type: ignore[assignment]
    current = _evaluators.get(kind) or _resolvers.get(kind)
    if current is not None and current is not function:
        raise ValueError(f"ops condition {kind!r} is already registered by {current!r}")
    if evaluate is not None:
        _evaluators[kind] = evaluate
    else:
        _resolvers[kind] = function  # type: ignore[assignment]


def registered_kinds() -> list[str]:
    return sorted({*_evaluators, *_resolvers})


def _registered_conditions(status: PlatformStatus, *, now: datetime) -> None:
    for kind, evaluate in _evaluators.items():
        try:
            firing = evaluate(now=now)
        except Exception as exc:
            # This kind is left as it is (not resolved) until it can be evaluated again.
            status.errors.append(f"could not evaluate {kind}: {type(exc).__name__}: {exc}")
            continue
        status.evaluated_kinds.add(kind)
        for subject, (severity, message) in firing.items():
            status.fire(kind, subject, severity, message)
    open_subjects: dict[str, list[str]] = {}
    for kind, subject in status.open_alerts:
        if kind in _resolvers:
            open_subjects.setdefault(kind, []).append(subject)
    for kind, subjects in sorted(open_subjects.items()):
        try:
            holding = set(_resolvers[kind](subjects=subjects))
        except Exception as exc:
            status.errors.append(f"could not evaluate {kind}: {type(exc).__name__}: {exc}")
            continue
        status.cleared |= {(kind, subject) for subject in subjects if subject not in holding}


# --- built-in conditions: Redis, beat, the workers and the queues -------------------------


def start_worker_command(queues: list[str]) -> str:
    """The command that starts a worker for `queues`: the first step of a no-worker alert."""
    return f"celery -A config worker -Q {','.join(queues)} -l INFO"


def _redis_condition(status: PlatformStatus, exc: Exception) -> None:
    queues = [queue.name for queue in status.queues] or list(settings.PLATFORM_QUEUES)
    status.errors.append(f"could not read Redis: {type(exc).__name__}: {exc}")
    status.fire(
        KIND_REDIS_UNREACHABLE,
        REDIS_SUBJECT,
        RED,
        f"Redis does not answer ({type(exc).__name__}): no task can be sent or started on "
        f"any queue ({', '.join(queues)}), beat cannot send, overlap locks cannot be taken. "
        "The queue, beat and worker checks wait until it answers. "
        'First step: check that Redis runs and answers: `redis-cli -u "$REDIS_URL" ping`.',
    )


def _beat_condition(status: PlatformStatus) -> None:
    beat = status.beat
    status.evaluated_kinds.add(KIND_BEAT_STALLED)
    if beat["ok"]:
        return
    status.fire(
        KIND_BEAT_STALLED,
        BEAT_SUBJECT,
        RED,
        (
            "Beat has never ticked (no heartbeat sent since Redis was emptied): "
            "is celery beat running?"
            if beat["age"] is None
            else f"Beat last ticked {beat['age']:.0f}s ago "
            f"(threshold {settings.OPS_BEAT_STALE_AFTER}s): no periodic task is being sent."
        )
        + " First step: start beat (one only): `celery -A config beat -l INFO`.",
    )


def _no_worker_condition(status: PlatformStatus) -> None:
    """One alert for every queue without a worker: one cause (workers gone), one email."""
    status.evaluated_kinds.add(KIND_QUEUE_NO_WORKER)
    orphaned = [queue.name for queue in status.queues if queue.consumers == []]
    if not orphaned:
        return
    if len(orphaned) == len(status.queues) and not status.workers:
        what = f"No worker is running: no queue ({', '.join(orphaned)}) is being consumed"
    else:
        what = (
            f"No worker consumes {len(orphaned)} of {len(status.queues)} queues: "
            f"{', '.join(orphaned)}; their tasks wait"
        )
    status.fire(
        KIND_QUEUE_NO_WORKER,
        WORKERS_SUBJECT,
        RED,
        f"{what}. First step: start a worker for them: `{start_worker_command(orphaned)}`.",
    )


def _queue_condition(
    status: PlatformStatus,
    *,
    name: str,
    now_ts: float,
    depth: int | None,
    heartbeat: dict[str, Any],
) -> QueueState:
    limits = queue_thresholds(queue=name)
    queue = QueueState(name=name, thresholds=limits)
    last = heartbeat.get("last")
    if last:
        queue.last_heartbeat_at = datetime.fromtimestamp(last["started_at"], tz=UTC)
        queue.heartbeat_age = max(0.0, now_ts - last["started_at"])
        queue.latency = last["latency"]
    outstanding = heartbeat.get("outstanding_sent_at")
    if outstanding and (last is None or outstanding > last["started_at"]):
        # A heartbeat still waiting is at least this late already.
        queue.latency = max(queue.latency or 0.0, now_ts - outstanding)
    if status.workers is not None:
        queue.consumers = sorted(host for host, qs in status.workers.items() if name in qs)
        if not queue.consumers:
            queue.flag(RED, "no worker consumes this queue")
    if depth is None:
        return queue  # Redis could not be read
    queue.depth = depth
    # Measured against beat's last send, not the clock: when beat stops, no queue
    # falls behind, and the beat alert says so once instead of every queue going
    # stale too.
    last_tick = status.beat["last_tick_at"]
    if last_tick is not None and last:
        lag = last_tick.timestamp() - last["started_at"]
        if lag > limits["heartbeat_stale"]:
            queue.flag(RED, f"last heartbeat {queue.heartbeat_age:.0f}s ago")
            status.fire(
                KIND_QUEUE_STALLED,
                name,
                RED,
                f"Queue '{name}': no heartbeat started for {queue.heartbeat_age:.0f}s "
                f"while beat kept sending (threshold {limits['heartbeat_stale']:.0f}s); "
                "work there is not running. First step: look at the log of the workers "
                f"consuming it ({', '.join(queue.consumers or []) or 'none alive'}): "
                "a task hogging every process, or a worker cut off from Redis.",
            )
    elif last_tick is not None:
        queue.flag(AMBER, "no heartbeat recorded yet")
    if queue.latency is not None and queue.latency > limits["latency_amber"]:
        queue.flag(AMBER, f"latency {queue.latency:.1f}s")
        status.fire(
            KIND_QUEUE_LATENCY,
            name,
            AMBER,
            f"Queue '{name}': heartbeat waited {queue.latency:.1f}s "
            f"(threshold {limits['latency_amber']:.0f}s). First step: see what fills the "
            f"queue on the dashboard; add worker processes for it "
            f"(`{start_worker_command([name])}`).",
        )
    if depth > limits["depth_amber"]:
        queue.flag(AMBER, f"{depth} messages waiting")
        status.fire(
            KIND_QUEUE_DEPTH,
            name,
            AMBER,
            f"Queue '{name}': {depth} messages waiting (threshold {limits['depth_amber']:.0f}). "
            f"First step: add worker processes for it (`{start_worker_command([name])}`).",
        )
    return queue


def platform_status(*, read_workers: bool = True, evaluate: bool = True) -> PlatformStatus:
    """Everything the checks, the dashboard, readiness and ops_status show; no writes.

    Redis is read in two pipelined round trips (beat, queues, heartbeats and the
    workers' liveness records) and the open alerts in one query; nothing is asked of
    the workers over the broker. `evaluate=False` is for pages: the conditions the apps
    register (and `task_failing`) are not evaluated again, their open alerts stand for
    them, and the status says when the checks that keep those alerts current last ran.
    """
    now_ts = state.now_ts()
    queues = list(settings.PLATFORM_QUEUES)
    status = PlatformStatus(
        checked_at=datetime.fromtimestamp(now_ts, tz=UTC),
        queues=[],
        beat={
            "ok": None,
            "last_tick_at": None,
            "age": None,
            "stale_after": settings.OPS_BEAT_STALE_AFTER,
        },
        workers=None,
        conditions={},
        evaluated_kinds=set(),
    )
    read: probes.Readings | None = None
    try:
        read = probes.readings(queues=queues, now_ts=now_ts)
    except redis.RedisError as exc:
        _redis_condition(status, exc)
    status.evaluated_kinds.add(KIND_REDIS_UNREACHABLE)
    if read is not None:
        status.beat = read.beat
        if read_workers:
            status.workers = read.workers
        if read.checks_last_ts is not None:
            status.checks_last_at = datetime.fromtimestamp(read.checks_last_ts, tz=UTC)
        status.checks_stale = not evaluate and (
            read.checks_last_ts is None
            or now_ts - read.checks_last_ts > 3 * settings.OPS_CHECK_INTERVAL
        )
        _beat_condition(status)
        status.evaluated_kinds |= {KIND_QUEUE_STALLED, KIND_QUEUE_LATENCY, KIND_QUEUE_DEPTH}
    status.queues = [
        _queue_condition(
            status,
            name=name,
            now_ts=now_ts,
            depth=read.depths[name] if read else None,
            heartbeat=read.heartbeats[name] if read else {},
        )
        for name in queues
    ]
    if status.workers is not None:
        _no_worker_condition(status)
    try:
        status.open_alerts = dict(
            ((kind, subject), severity)
            for kind, subject, severity in Alert.objects.filter(status=Alert.Status.OPEN)
            .values_list("kind", "subject", "severity")
            .order_by()
        )
    except Exception as exc:
        status.errors.append(f"could not read the open alerts: {type(exc).__name__}: {exc}")
    if evaluate:
        _registered_conditions(status, now=status.checked_at)
    return status
