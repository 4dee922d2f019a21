"""The team's own Celery tasks, written the way teams write them: plain `@shared_task`
functions with a stable name and time limits, no platform base class. The platform
schedules them like any other (overlap policy, history, pause on failure).

They count what they do in Redis, so a test can see it from outside the worker.
"""

import time

from celery import current_task, shared_task
from celery_once import QueueOnce

# The team's standard-API tasks (Django's own `@task`) live beside these; importing
# them here is how a worker, which imports every app's tasks module, learns them.
from tests.team import standard_tasks  # noqa: F401
from tests.team.counters import running_enter, running_leave
from tests.team.counters import team_redis as _redis


@shared_task(name="team.slow_step", soft_time_limit=20, time_limit=25)
def slow_step(key: str, seconds: float = 3.0) -> int:
    """A step that takes `seconds`; team:peak:<key> says how many ran at once."""
    client = _redis()
    running = running_enter(client, key)
    try:
        time.sleep(seconds)
    finally:
        running_leave(client, key)
    return running


@shared_task(name="team.tally", soft_time_limit=1, time_limit=2)
def tally(key: str) -> int:
    """A quick step with a short time limit (so its overlap lock lives briefly)."""
    return int(_redis().incr(f"team:tally:{key}"))


@shared_task(name="team.hold_until", soft_time_limit=50, time_limit=60)
def hold_until(key: str, seconds: float = 30.0) -> bool:
    """Keeps a worker busy until team:go:<key> is set (or `seconds` pass)."""
    client = _redis()
    client.set(f"team:holding:{key}", current_task.request.id or "")
    deadline = time.monotonic() + seconds
    while not client.exists(f"team:go:{key}") and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(client.exists(f"team:go:{key}"))


@shared_task(name="team.sync_stock", soft_time_limit=10, time_limit=15)
def sync_stock(warehouse: str, fail: bool = False) -> str:
    """Fails while the (pretend) warehouse is down."""
    if fail:
        raise ConnectionError(f"warehouse {warehouse} did not answer")
    return warehouse


@shared_task(base=QueueOnce, name="team.export_ledger", once={"graceful": True},
             soft_time_limit=20, time_limit=25)  # fmt: skip
def export_ledger(month: str) -> str:
    """A team that already used celery-once's own base class before the platform."""
    return month


def _written(write) -> None:
    """A team's own bookkeeping survives a database restart: retried for up to 30 s."""
    from django.db import OperationalError, close_old_connections

    deadline = time.monotonic() + 30
    while True:
        try:
            write()
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            close_old_connections()
            time.sleep(0.5)


@shared_task(name="team.timed_step", soft_time_limit=10, time_limit=15)
def timed_step(key: str, seconds: float = 2.0) -> int:
    """Records its own start and end (tests.team.models.TimedRun), with the process id,
    so that overlaps can be read from the team's table."""
    import os

    from django.db import connection
    from django.utils import timezone

    from tests.team.models import TimedRun

    run = TimedRun(key=key, celery_task_id=current_task.request.id or "", pid=os.getpid(),
                   started_at=timezone.now())  # fmt: skip

    def start() -> None:
        connection.ensure_connection()
        run.save()

    _written(start)
    time.sleep(seconds)
    ended = timezone.now()
    _written(lambda: TimedRun.objects.filter(pk=run.pk).update(ended_at=ended))
    return run.pk
