"""What `.enqueue()` of a standard-API task costs through the platform's Celery backend,
next to `.delay()` of the same function as a plain Celery task, in the same run.

    DJANGO_SETTINGS_MODULE=config.settings.test REDIS_TEST_DB=9 \\
        .venv/bin/python benchmarks/tasks_enqueue.py [--sends 2000]

Both publish to a queue no worker consumes (`bench-tasks`), alternating send by send
so that a busy neighbour on the machine slows both alike; the lower quartile is the
figure least moved by such a neighbour. The backend's enqueue
checks the task and its JSON arguments, writes the READY result record and publishes
(outside a transaction, so at once); `.delay()` only publishes. Use a Redis database of
your own: it deletes the queue and the records at the end. Prints figures; asserts
nothing (the target is a ratio within 1.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

import redis  # noqa: E402
from celery import current_app, shared_task  # noqa: E402
from django.conf import settings  # noqa: E402

from schedules.tasks_backend import api  # noqa: E402
from schedules.tasks_backend.records import KEY_PREFIX  # noqa: E402

QUEUE = "bench-tasks"
settings.TASKS = {
    "default": {
        "BACKEND": "schedules.tasks_backend.CeleryBackend",
        "QUEUES": [*settings.PLATFORM_QUEUES, QUEUE],
    }
}


def add_up(key: str, amount: int = 1) -> int:
    return amount


celery_add_up = shared_task(name="bench.add_up", ignore_result=True)(add_up)
current_app.conf.task_routes = {"bench.add_up": {"queue": QUEUE}}
standard_add_up = api.Task(
    func=add_up, priority=0, backend="default", queue_name=QUEUE, run_after=None,
    takes_context=False,
)  # fmt: skip
sys.modules["__main__"].add_up = standard_add_up  # the import path the worker would use


def timed_alternately(calls: int, sends: dict) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in sends}
    for i in range(calls):
        for name, send in sends.items():
            start = time.perf_counter()
            send(i)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=2000)
    sends = parser.parse_args().sends
    client = redis.Redis.from_url(settings.REDIS_URL)
    for _ in range(50):  # warm up both paths: connections, imports, registration
        celery_add_up.delay("warm-up")
        standard_add_up.enqueue("warm-up")
    results = timed_alternately(
        sends,
        {
            "celery .delay()": lambda i: celery_add_up.delay(f"c{i}", amount=i),
            "django .enqueue()": lambda i: standard_add_up.enqueue(f"d{i}", amount=i),
        },
    )
    client.delete(QUEUE)
    keys = list(client.scan_iter(f"{KEY_PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    print(f"{len(results['celery .delay()'])} sends each; ms per send")
    print(f"  {'':20} {'p25':>8} {'median':>8} {'mean':>8} {'p95':>8}")
    figures = {}
    for name, times in results.items():
        quartiles = statistics.quantiles(times, n=4)
        p95 = statistics.quantiles(times, n=20)[-1]
        figures[name] = (quartiles[0], quartiles[1])
        print(
            f"  {name:20} {quartiles[0]:8.3f} {quartiles[1]:8.3f} "
            f"{statistics.mean(times):8.3f} {p95:8.3f}"
        )
    delay, enqueue = figures["celery .delay()"], figures["django .enqueue()"]
    print(
        f"  ratio enqueue/delay: {enqueue[0] / delay[0]:.2f} (p25), "
        f"{enqueue[1] / delay[1]:.2f} (median); target: within 1.5"
    )


if __name__ == "__main__":
    main()
