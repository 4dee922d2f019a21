"""Tasks that exist only for tests; registered in the in-process worker via conftest."""

import redis
from celery import shared_task
from django.conf import settings


@shared_task(name="tests.square", soft_time_limit=10, time_limit=15)
def square(number: int) -> int:
    return number * number


@shared_task(name="tests.total", soft_time_limit=10, time_limit=15)
def total(numbers: list[int]) -> int:
    return sum(numbers)


@shared_task(name="tests.record_tick", soft_time_limit=10, time_limit=15)
def record_tick(key: str) -> int:
    """Count a periodic run in Redis so a test can see beat fire."""
    return redis.Redis.from_url(settings.REDIS_URL).incr(key)


@shared_task(
    name="tests.sleep_then_count", soft_time_limit=20, time_limit=25, acks_late=True,
    reject_on_worker_lost=True,
)  # fmt: skip
def sleep_then_count(key: str, seconds: float) -> int:
    """A slow idempotent-by-design probe: counts completions in a Redis hash per task id."""
    import time

    from celery import current_task

    time.sleep(seconds)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.hincrby(key, current_task.request.id, 1)
    return int(client.hlen(key))


@shared_task(name="tests.overrun", soft_time_limit=1, time_limit=2)
def overrun(seconds: float) -> str:
    """Ignores its soft limit, so only the hard time limit can stop it."""
    import time

    from celery.exceptions import SoftTimeLimitExceeded

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            continue
    return "finished"
