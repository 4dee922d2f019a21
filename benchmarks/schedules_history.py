"""Run-history admin at scale: insert TaskRun rows, then time the changelist queries.

    DJANGO_SETTINGS_MODULE=config.settings.local .venv/bin/python benchmarks/schedules_history.py --rows 300000

Writes into the configured database (use a scratch one), into a fresh schedules_taskrun
table content it deletes at the end unless --keep. Prints figures; asserts nothing.
Baseline in the same run: the same page without the indexes' help (a sequential scan,
forced with enable_indexscan/enable_bitmapscan off), so the figures compare like for like.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_celery_beat.models import IntervalSchedule, PeriodicTask  # noqa: E402

from schedules.models import TaskRun  # noqa: E402

PAGES = {
    "history, unfiltered": "/admin/schedules/taskrun/",
    "history, status=failed": "/admin/schedules/taskrun/?status__exact=failed",
    "history, one task": "/admin/schedules/taskrun/?task_name=bench.task_7",
    "history, last 7 days": "/admin/schedules/taskrun/?queued_at__gte={week_ago}+00%3A00%3A00%2B00%3A00",
    "history, page 50": "/admin/schedules/taskrun/?p=50",
    "periodic task list (20 tasks)": "/admin/django_celery_beat/periodictask/",
}


def insert_rows(rows: int, tasks: list[PeriodicTask]) -> float:
    statuses = ["succeeded"] * 90 + ["failed"] * 4 + ["skipped"] * 4 + ["missed", "retried"]
    now = datetime.now(UTC)
    started = time.perf_counter()
    batch: list[TaskRun] = []
    for i in range(rows):
        task = tasks[i % len(tasks)]
        queued = now - timedelta(seconds=i * 30)
        status = random.choice(statuses)
        batch.append(
            TaskRun(
                periodic_task=task,
                task_name=task.task,
                status=status,
                trigger="beat",
                queued_at=queued,
                started_at=queued + timedelta(seconds=1),
                finished_at=queued + timedelta(seconds=3),
                duration=timedelta(seconds=2),
                worker="bench@host",
                celery_task_id=f"bench-{i}" if status not in ("skipped", "missed") else "",
                error="ValueError: bench" if status == "failed" else "",
            )
        )
        if len(batch) == 10_000:
            TaskRun.objects.bulk_create(batch)
            batch = []
    TaskRun.objects.bulk_create(batch)
    return time.perf_counter() - started


def time_page(client: Client, url: str, repeat: int) -> tuple[float, float, int, float]:
    timings = []
    db_timings = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            timings.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured.captured_queries)
        db_timings.append(sum(float(query["time"]) for query in captured.captured_queries))
    return (
        statistics.median(timings) * 1000,
        max(timings) * 1000,
        queries,
        statistics.median(db_timings) * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()

    every = IntervalSchedule.objects.get_or_create(every=60, period="seconds")[0]
    tasks = [
        PeriodicTask.objects.update_or_create(
            name=f"bench {i}",
            defaults={"task": f"bench.task_{i}", "interval": every, "enabled": False},
        )[0]
        for i in range(20)
    ]
    TaskRun.objects.filter(task_name__startswith="bench.").delete()
    seconds = insert_rows(options.rows, tasks)
    with connection.cursor() as cursor:
        # A settled table, as autovacuum leaves it: visibility map set, statistics fresh.
        cursor.execute("VACUUM ANALYZE schedules_taskrun")
    print(f"inserted {options.rows:,} TaskRun rows in {seconds:.1f} s "
          f"({options.rows / seconds:,.0f} rows/s)")  # fmt: skip

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()

    print(
        f"{'page':32} {'median ms':>9} {'max ms':>7} {'queries':>7} {'db ms':>6} "
        f"{'db ms, indexes off':>18}"
    )
    for label, url in PAGES.items():
        url = url.format(week_ago=week_ago)
        median, worst, queries, db_ms = time_page(client, url, options.repeat)
        with connection.cursor() as cursor:
            cursor.execute("SET enable_indexscan = off")
            cursor.execute("SET enable_bitmapscan = off")
            cursor.execute("SET enable_indexonlyscan = off")
        _, _, _, baseline = time_page(client, url, max(1, options.repeat // 2))
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_indexscan")
            cursor.execute("RESET enable_bitmapscan")
            cursor.execute("RESET enable_indexonlyscan")
        print(f"{label:32} {median:9.1f} {worst:7.1f} {queries:7d} {db_ms:6.1f} {baseline:18.1f}")

    if not options.keep:
        TaskRun.objects.filter(task_name__startswith="bench.").delete()
        PeriodicTask.objects.filter(name__startswith="bench ").delete()
        user.delete()


if __name__ == "__main__":
    main()
