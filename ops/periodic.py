"""Ops' default periodic tasks (see schedules/defaults.py for the entry format)."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def heartbeat_schedules(*, interval: int | None = None) -> list[dict[str, Any]]:
    """One heartbeat per platform queue, sent to that queue every `interval` seconds."""
    every = interval or settings.OPS_HEARTBEAT_INTERVAL
    return [
        {
            "name": f"ops: heartbeat {queue}",
            "task": "ops.heartbeat",
            "interval": every,
            "queue": queue,
            "kwargs": {"queue": queue},
            # HeartbeatTask refuses a second live heartbeat itself and records beat's
            # tick on every send: the platform's overlap lock must not skip sends.
            "overlap": "allow",
            "description": f"Measures how long queue '{queue}' makes work wait; "
            "a missing heartbeat raises an ops alert.",
        }
        for queue in settings.PLATFORM_QUEUES
    ]


DEFAULT_SCHEDULES = [
    *heartbeat_schedules(),
    {
        "name": "ops: prune history",
        "task": "ops.prune_history",
        "crontab": "17 3 * * *",
        "description": "Deletes heartbeats, queue samples and resolved alerts older "
        "than OPS_HISTORY_DAYS.",
    },
]
