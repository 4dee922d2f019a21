"""Celery signal receivers for ops; connected in OpsConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ops import state


def on_beat_init(sender: Any = None, **kwargs: Any) -> None:
    from ops.runner import start_checks_loop

    state.client().set(state.BEAT_TICK, state.now_ts())
    if settings.OPS_CHECKS_IN_BEAT:
        start_checks_loop(owner="beat")


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """Workers that consume `ops` also run the checks, so a dead beat is noticed."""
    from ops.runner import start_checks_loop

    if not settings.OPS_CHECKS_IN_WORKERS:
        return
    consumed = {queue.name for queue in getattr(sender.task_consumer, "queues", [])}
    if "ops" in consumed:
        start_checks_loop(owner=f"worker {sender.hostname}")


def on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    from ops.runner import stop_checks_loops

    stop_checks_loops()
