"""The team's tasks written with Django's own task API only: `@task` from
`django.tasks` (the `django-tasks` backport on Django 5.2), nothing from the platform.
settings.TASKS puts them on the platform's Celery workers, where they are scheduled,
locked, recorded and paused like the team's `@shared_task`s (tests/team/tasks.py).

They count what they do in Redis (tests/team/counters.py), so a test can see it from
outside the worker.
"""

import time

try:
    from django.tasks import TaskContext, task
except ImportError:  # Django 5.2: the backport of the same API
    from django_tasks import TaskContext, task

from tests.team.counters import running_enter, running_leave, team_redis
from tests.team.models import Station


@task()
def slow_count(key: str, seconds: float = 3.0) -> int:
    """Takes `seconds`; team:peak:<key> says how many ran at once."""
    client = team_redis()
    running = running_enter(client, key)
    try:
        time.sleep(seconds)
    finally:
        running_leave(client, key)
    return running


@task()
def stubborn_sleep(seconds: float) -> str:
    """Sleeps through its soft time limit (careless code catches everything), so only
    the hard limit ends it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except Exception:  # the soft time limit, ignored on purpose
            continue
    return "woke up"


@task()
def tally(key: str) -> int:
    return int(team_redis().incr(f"team:tally:{key}"))


@task()
def sync_stock(warehouse: str, fail: bool = False) -> str:
    """Fails while the (pretend) warehouse is down."""
    if fail:
        raise ConnectionError(f"warehouse {warehouse} did not answer")
    return warehouse


@task()
def station_name(code: str) -> str:
    """Reads a row the caller has just written (enqueued on commit, so it exists)."""
    return Station.objects.get(code=code).name


@task(queue_name="reports", priority=-50)
def lined_up(key: str, label: str) -> str:
    """Appends its label to team:order:<key>: the order the runs ran in."""
    team_redis().rpush(f"team:order:{key}", label)
    return label


@task()
def meaning_of_life() -> int:
    return 42


@task()
async def meaning_of_life_async() -> int:
    return 42


@task()
def noop(*args, **kwargs) -> None:
    return None


@task()
def failing_value_error() -> None:
    raise ValueError("This task failed due to ValueError")


@task()
def failing_system_exit() -> None:
    raise SystemExit("This task failed due to SystemExit")


@task()
def complex_exception() -> None:
    raise ValueError(ValueError("This task failed"))


@task()
def complex_return_value() -> object:
    return object()  # not JSON: the run fails, as Django's own backends fail it


@task(takes_context=True)
def own_id(context: TaskContext) -> str:
    return context.task_result.id


@task(takes_context=True)
def attempt_and_arguments(context: TaskContext, number: int, *, word: str = "") -> list:
    return [context.attempt, number, word, context.task_result.args, context.task_result.kwargs]
