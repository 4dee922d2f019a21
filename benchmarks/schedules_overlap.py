"""What the overlap policy costs per periodic send, against a plain publish of the same
task measured in the same run.

    DATABASE_URL=postgresql://postgres:@/bp_bench?host=$PWD/var/pg \\
    REDIS_URL=redis://127.0.0.1:<port>/5 \\
        .venv/bin/python benchmarks/schedules_overlap.py [--sends 500]

Every periodic send (beat, Run now) now reads the schedule's policy, runs one Lua
script (lock + holder record), writes the queued TaskRun and publishes with an expiry
and a header. Timed per call, with `ops.ping` (a plain task) published to a queue no
worker consumes:

- baseline: `ping.apply_async(...)`, Celery alone;
- before: that plus the queued TaskRun row, which beat already wrote for a plain task
  before the overlap policy existed;
- allow: `periodic_run_send` under *allow* (policy read, TaskRun row, publish);
- skip, locked: under *skip* with new arguments each time (every send takes a lock);
- skip, refused: the same arguments again (a `skipped` row, no publish).

Use a database and Redis of your own: it deletes what it wrote (rows, locks, the
queue's messages) at the end. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django_celery_beat.models import IntervalSchedule, PeriodicTask  # noqa: E402

from ops.tasks import ping  # noqa: E402
from schedules.models import ScheduleOptions, TaskRun  # noqa: E402
from schedules.services.overlap import periodic_run_send  # noqa: E402
from schedules.services.runs import run_record_queued  # noqa: E402

QUEUE = "bench-overlap"
PREFIX = "bench-overlap-"


def timed(calls: int, call: Callable[[int], object]) -> list[float]:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def schedule(policy: str) -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=3600, period="seconds")
    task = PeriodicTask.objects.create(
        name=f"{PREFIX}{policy}", task="ops.ping", interval=every, enabled=False
    )
    ScheduleOptions.objects.create(periodic_task=task, overlap=policy)
    return task


def send(task: PeriodicTask, value: str):
    return periodic_run_send(
        task_name="ops.ping", args=[value], kwargs={}, options={"queue": QUEUE},
        trigger="beat", periodic_task_id=task.pk,
    )  # fmt: skip


def publish_and_record(task: PeriodicTask, value: str) -> None:
    result = ping.apply_async([value], queue=QUEUE)
    run_record_queued(task_name="ops.ping", periodic_task_id=task.pk, trigger="beat",
                      celery_task_id=result.id)  # fmt: skip


def clean(client: redis.Redis) -> None:
    TaskRun.objects.filter(periodic_task__name__startswith=PREFIX).delete()
    PeriodicTask.objects.filter(name__startswith=PREFIX).delete()
    keys = list(client.scan_iter("qo_ops.ping_*"))
    if keys:
        client.delete(*keys)
    client.delete(QUEUE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=500)
    calls = parser.parse_args().sends
    client = redis.Redis.from_url(settings.REDIS_URL)
    clean(client)
    allow, skip = schedule("allow"), schedule("skip")
    try:
        send(skip, "warm-up")  # imports, connections, Lua script cache
        ping.apply_async(["warm-up"], queue=QUEUE)
        results = {
            "baseline: apply_async": timed(calls, lambda i: ping.apply_async([f"b{i}"], queue=QUEUE)),
            "before: publish + row": timed(calls, lambda i: publish_and_record(allow, f"r{i}")),
            "allow": timed(calls, lambda i: send(allow, f"a{i}")),
            "skip, locked": timed(calls, lambda i: send(skip, f"s{i}")),
            "skip, refused": timed(calls, lambda i: send(skip, f"s{i}")),
        }  # fmt: skip
        assert TaskRun.objects.filter(periodic_task=skip, status="skipped").count() == calls
    finally:
        clean(client)
    baseline = statistics.median(results["baseline: apply_async"])
    print(f"{calls} sends each; ms per send (median, p95); extra over the baseline median")
    for name, times in results.items():
        median = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"  {name:24} {median:7.2f} {p95:7.2f}   +{median - baseline:.2f}")


if __name__ == "__main__":
    main()
