"""Reaper and retention at scale: time schedules.reap_lost_runs and schedules.prune_history.

    DJANGO_SETTINGS_MODULE=config.settings.local .venv/bin/python benchmarks/schedules_reaper.py --rows 300000

Writes into the configured database (use a scratch one) and deletes what it inserted.
Prints figures; asserts nothing. Baseline in the same run: the same reaper pass with
index scans switched off (enable_indexscan/enable_bitmapscan off), i.e. what it would
cost without the partial index on open runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402

from schedules.models import TaskRun  # noqa: E402
from schedules.services.reaper import runs_lost_reap  # noqa: E402
from schedules.services.retention import history_prune  # noqa: E402

PREFIX = "bench-reaper-"


def insert(rows: int, open_runs: int) -> None:
    now = datetime.now(UTC)
    batch: list[TaskRun] = []
    for i in range(rows):
        at = now - timedelta(seconds=i * 9)  # 300,000 rows span ~31 days
        status = "succeeded"
        if i < open_runs:
            status = "started"  # recent, still inside their limit: must stay
        batch.append(
            TaskRun(
                task_name=f"bench.task_{i % 20}",
                status=status,
                queued_at=at,
                started_at=at,
                finished_at=None if status == "started" else at,
                celery_task_id=f"{PREFIX}{i}",
                time_limit=3600,
            )
        )
        if len(batch) == 10_000:
            TaskRun.objects.bulk_create(batch)
            batch = []
    TaskRun.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE schedules_taskrun")


def time_reap(repeats: int, *, indexes: bool) -> float:
    timings = []
    for _ in range(repeats):
        with transaction.atomic():
            if not indexes:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL enable_indexscan = off")
                    cursor.execute("SET LOCAL enable_bitmapscan = off")
            started = time.perf_counter()
            counts = runs_lost_reap()
            timings.append((time.perf_counter() - started) * 1000)
            assert counts == {"started": 0, "queued": 0}, counts
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--open", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    TaskRun.objects.filter(celery_task_id__startswith=PREFIX).delete()
    print(f"inserting {args.rows:,} task runs ({args.open} open) ...", flush=True)
    insert(args.rows, args.open)
    print(f"reaper pass, partial index:   {time_reap(args.repeats, indexes=True):8.1f} ms median")
    print(f"reaper pass, index scans off: {time_reap(args.repeats, indexes=False):8.1f} ms median")
    older = TaskRun.objects.filter(
        celery_task_id__startswith=PREFIX,
        queued_at__lt=datetime.now(UTC) - timedelta(days=30),
    ).count()
    started = time.perf_counter()
    counts = history_prune()
    elapsed = time.perf_counter() - started
    print(
        f"prune: {counts['runs']:,} runs older than 30 days deleted (expected {older:,}) "
        f"in {elapsed * 1000:.0f} ms, {counts['runs'] / max(elapsed, 1e-9):,.0f} rows/s"
    )
    TaskRun.objects.filter(celery_task_id__startswith=PREFIX).delete()


if __name__ == "__main__":
    main()
