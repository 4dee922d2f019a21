"""Test-only periodic tasks; imported by tests/schedules/conftest.py so the in-process
worker knows them."""

import time

import redis
from celery import shared_task
from django.conf import settings

from schedules.locking import PeriodicOnceTask


@shared_task(
    base=PeriodicOnceTask,
    name="tests.schedules.hold",
    once={"graceful": True},
    soft_time_limit=20,
    time_limit=25,
)
def hold(key: str, seconds: float = 0.0, fail: bool = False) -> str:
    time.sleep(seconds)
    if fail:
        raise ValueError(f"boom in {key}")
    return key


@shared_task(
    base=PeriodicOnceTask,
    bind=True,
    name="tests.schedules.flaky",
    once={"graceful": True},
    soft_time_limit=20,
    time_limit=25,
    max_retries=3,
)
def flaky(self, key: str) -> int:
    """Fails on its first attempt and retries at once; the retry waits (up to 15 s) for
    the test to set `flaky:<key>:go`, so the test decides how long the retry lasts
    whatever the machine's load, then succeeds."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    attempts = client.incr(f"flaky:{key}")
    if attempts == 1:
        raise self.retry(countdown=0, exc=RuntimeError("first attempt fails"))
    deadline = time.monotonic() + 15
    while not client.exists(f"flaky:{key}:go") and time.monotonic() < deadline:
        time.sleep(0.05)
    return attempts
