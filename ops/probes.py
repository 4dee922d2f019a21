"""Probes: what Redis and the workers' liveness records say now. Reads only, no judgement.

The conditions (`ops.conditions`) and the health checks (`ops.health`) decide what
these readings mean.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from ops import recovery, state


def workers_by_queue(alive: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """{node name: [queues it consumes]} of the live worker instances `alive`
    (`recovery.workers_alive()`); a restarted worker can briefly have two instances
    under one node name."""
    by_host: dict[str, set[str]] = {}
    for info in alive.values():
        by_host.setdefault(info["hostname"], set()).update(info["queues"])
    return {host: sorted(queues) for host, queues in sorted(by_host.items())}


@dataclass
class Readings:
    """Everything the live status needs from Redis, read in two pipelined round trips."""

    now_ts: float
    beat: dict[str, Any]
    depths: dict[str, int]
    heartbeats: dict[str, dict[str, Any]]
    workers: dict[str, list[str]]
    checks_last_ts: float | None


def readings(*, queues: list[str], now_ts: float | None = None) -> Readings:
    """Beat's tick, queue depths, heartbeats, the last run of the checks and the live
    workers: one pipeline for the fixed keys and the worker set, one for the workers."""
    now_ts = state.now_ts() if now_ts is None else now_ts
    pipe = state.client().pipeline(transaction=False)
    pipe.get(state.BEAT_TICK)
    pipe.get(state.CHECKS_LAST)
    pipe.smembers(state.WORKERS)
    for queue in queues:
        for key in state.queue_list_keys(queue):
            pipe.llen(key)
        pipe.get(state.heartbeat_last_key(queue))
        pipe.get(state.heartbeat_outstanding_key(queue))
    values = iter(pipe.execute())
    tick, checks_last, members = next(values), next(values), next(values)
    depths, heartbeats = {}, {}
    for queue in queues:
        depths[queue] = sum(next(values) for _ in state.queue_list_keys(queue))
        heartbeats[queue] = _heartbeat(last=next(values), outstanding=next(values))
    alive = recovery.workers_alive(instances=sorted(str(member) for member in members))
    return Readings(
        now_ts=now_ts,
        beat=_beat(tick, now_ts=now_ts),
        depths=depths,
        heartbeats=heartbeats,
        workers=workers_by_queue(alive),
        checks_last_ts=float(checks_last) if checks_last else None,
    )


def beat_and_heartbeats(
    *, queues: list[str], now_ts: float
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Beat's tick and every queue's heartbeat, in one pipelined round trip (readiness)."""
    pipe = state.client().pipeline(transaction=False)
    pipe.get(state.BEAT_TICK)
    for queue in queues:
        pipe.get(state.heartbeat_last_key(queue))
        pipe.get(state.heartbeat_outstanding_key(queue))
    values = iter(pipe.execute())
    beat = _beat(next(values), now_ts=now_ts)
    return beat, {
        queue: _heartbeat(last=next(values), outstanding=next(values)) for queue in queues
    }


def _beat(tick: str | bytes | None, *, now_ts: float) -> dict[str, Any]:
    age = now_ts - float(tick) if tick else None
    ok = age is not None and age <= settings.OPS_BEAT_STALE_AFTER
    return {
        "ok": ok,
        "last_tick_at": datetime.fromtimestamp(float(tick), tz=UTC) if tick else None,
        "age": age,
        "stale_after": settings.OPS_BEAT_STALE_AFTER,
    }


def _heartbeat(*, last: str | None, outstanding: str | None) -> dict[str, Any]:
    return {
        "last": json.loads(last) if last else None,
        "outstanding_sent_at": float(outstanding) if outstanding else None,
    }
