"""Schedules' own tasks."""

import logging
import time

from celery import shared_task

from schedules.locking import PeriodicOnceTask

logger = logging.getLogger(__name__)


@shared_task(
    base=PeriodicOnceTask,
    name="schedules.sleep_probe",
    once={"graceful": True},
    soft_time_limit=50,
    time_limit=60,
)
def sleep_probe(seconds: float = 1.0) -> float:
    """Harmless periodic probe: holds its overlap lock for `seconds`.

    Useful to check a deployment end to end (beat -> lock -> worker -> history), and
    used by the kill tests, which need a platform task a subprocess worker knows.
    """
    time.sleep(seconds)
    return seconds


@shared_task(
    base=PeriodicOnceTask,
    name="schedules.reap_lost_runs",
    once={"graceful": True},
    soft_time_limit=50,
    time_limit=60,
)
def reap_lost_runs() -> dict:
    """Mark runs failed whose worker was killed or whose message was lost, and send
    (or expire) runs left waiting behind them (idempotent)."""
    from schedules.services.reaper import runs_lost_reap, waiting_runs_reap

    counts = runs_lost_reap()
    waiting = waiting_runs_reap()
    if any(waiting.values()):
        logger.warning("schedules: runs left waiting: %s", waiting)
    return counts


@shared_task(
    base=PeriodicOnceTask,
    name="schedules.prune_history",
    once={"graceful": True},
    soft_time_limit=300,
    time_limit=330,
)
def prune_history() -> dict:
    """Delete runs older than SCHEDULES_HISTORY_DAYS and audit rows older than
    SCHEDULES_AUDIT_DAYS, in bounded batches (idempotent)."""
    from schedules.services.retention import history_prune

    return history_prune()
