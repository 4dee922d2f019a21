"""Ops tasks: thin entry points; the logic is in ops.services."""

from __future__ import annotations

from celery import Task, shared_task, states
from celery.result import EagerResult

from ops import state


class HeartbeatTask(Task):
    """Sends at most one live heartbeat per queue, routed to that queue, with a short expiry.

    Beat calls apply_async in its own process, so sending is where the send time and
    the beat tick are recorded (`heartbeat_send_claim`), and where a second heartbeat
    for a queue that has not started the first is refused: heartbeats never pile up
    behind a stall.
    """

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, **options):
        from ops.services import heartbeat_send_claim

        kwargs = dict(kwargs or {})
        queue = kwargs.get("queue") or options.get("queue") or "ops"
        if not isinstance(queue, str):
            queue = queue.name
        kwargs["queue"] = queue
        claim = heartbeat_send_claim(queue=queue)
        if claim is None:
            return EagerResult(None, None, states.REJECTED)
        # Routed explicitly: the "ops.*" route would otherwise add routing_key "ops"
        # to a message meant for another queue's exchange.
        options.update(queue=queue, routing_key=queue, exchange=queue, expires=claim.expires)
        headers = dict(options.pop("headers", None) or {})
        headers["ops_sent_at"] = claim.sent_at
        return super().apply_async(
            args, kwargs, task_id=task_id, producer=producer, headers=headers, **options
        )


@shared_task(name="ops.ping", soft_time_limit=10, time_limit=15, acks_late=True,
             reject_on_worker_lost=True)  # fmt: skip
def ping(value: str = "pong") -> str:
    """Round trip through broker, worker and result backend; side-effect free."""
    return value


@shared_task(bind=True, base=HeartbeatTask, name="ops.heartbeat", soft_time_limit=10,
             time_limit=15, ignore_result=True, acks_late=True, reject_on_worker_lost=True)  # fmt: skip
def heartbeat(self, queue: str) -> None:
    """Record that a worker on `queue` started this heartbeat, and how long it waited."""
    from ops.services import heartbeat_record

    sent_at = getattr(self.request, "ops_sent_at", None) or (self.request.headers or {}).get(
        "ops_sent_at"
    )
    heartbeat_record(
        queue=queue,
        celery_task_id=self.request.id,
        sent_at_ts=float(sent_at) if sent_at is not None else None,
        started_at_ts=state.now_ts(),
        worker=self.request.hostname or "",
    )


@shared_task(name="ops.run_checks", soft_time_limit=50, time_limit=60, ignore_result=True)
def run_checks() -> None:
    """Evaluate every ops condition and open or resolve alerts (also run from beat itself)."""
    from ops.services import ops_checks_run

    ops_checks_run()


@shared_task(name="ops.prune_history", soft_time_limit=300, time_limit=330, ignore_result=True)
def prune_history() -> dict:
    """Delete heartbeats, queue samples and resolved alerts older than OPS_HISTORY_DAYS."""
    from ops.services import ops_history_prune

    return ops_history_prune()
