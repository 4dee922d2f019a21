"""Celery signal receivers for ops; connected in OpsConfig.ready()."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from ops import state

logger = logging.getLogger(__name__)


def on_beat_init(sender: Any = None, **kwargs: Any) -> None:
    from ops.runner import start_checks_loop, start_recovery_loop

    state.client().set(state.BEAT_TICK, state.now_ts())
    if settings.OPS_CHECKS_IN_BEAT:
        start_checks_loop(owner="beat")
    start_recovery_loop(owner="beat")


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """Register the worker for dead-worker recovery; workers that consume `ops` also run
    the checks, so a dead beat is noticed."""
    from ops.recovery import worker_instance_start
    from ops.runner import start_checks_loop, start_liveness_loop, start_recovery_loop

    consumed = {queue.name for queue in getattr(sender.task_consumer, "queues", [])}
    worker_instance_start(hostname=sender.hostname, queues=sorted(consumed))
    start_liveness_loop()
    start_recovery_loop(owner=f"worker {sender.hostname}", replacing=sender.hostname)
    if settings.OPS_CHECKS_IN_WORKERS and "ops" in consumed:
        start_checks_loop(owner=f"worker {sender.hostname}")


def on_task_received(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    """Remember the late-acknowledged messages this worker holds (in its main process)."""
    from ops.recovery import current_instance, message_held_record

    if request is None or current_instance() is None or not request.task.acks_late:
        return
    try:
        message_held_record(
            delivery_tag=str(request.message.delivery_tag or ""),
            task_name=request.name,
            task_id=request.id,
        )
    except Exception:
        # Never refuse work because Redis hiccuped: the message is only recovered later
        # (by the visibility timeout or the stall sweep) if this worker dies.
        logger.warning("could not record held message %s", request.id, exc_info=True)


def on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    from ops.recovery import worker_instance_stop
    from ops.runner import stop_loops

    stop_loops()
    worker_instance_stop()
