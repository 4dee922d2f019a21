"""Schedules' own tasks."""

import time

from celery import shared_task

from schedules.locking import PeriodicOnceTask


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
