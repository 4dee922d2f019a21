"""Probes: what Redis and the Celery workers say right now. Reads only, no judgement.

The conditions (`ops.conditions`) and the health checks (`ops.health`) decide what
these readings mean.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from celery import current_app
from django.conf import settings

from ops import state


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
    replies = current_app.control.inspect(
        timeout=settings.OPS_INSPECT_TIMEOUT if timeout is None else timeout
    ).active_queues()
    return {
        hostname: sorted(queue["name"] for queue in queues)
        for hostname, queues in (replies or {}).items()
    }


def heartbeat_state(*, queues: list[str]) -> dict[str, dict[str, Any]]:
    """{queue: {"last": {started_at, latency, worker} | None, "outstanding_sent_at": ts | None}}."""
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
    """Beat's last tick (its last heartbeat send), its age and whether that is fresh."""
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
