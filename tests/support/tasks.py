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
