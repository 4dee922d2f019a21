"""Benchmark: render the platform's end-of-day report over a week of platform activity.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python benchmarks/reporting_platform.py [--days 7]

Generates `--days` days of import jobs, periodic runs, ops alerts, heartbeats and queue
samples (replacing what the tables held: use a scratch database), renders the platform
report for the newest full day and prints the render time (first, cold run and the
median of several) and the number of SQL queries, next to a baseline measured in the
same run: the same figures computed in Python from every row of the day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from django.db import connection  # noqa: E402
from reporting_eod import render_measured, timed  # noqa: E402  (benchmarks/ is on sys.path)

from batches.models import ImportJob  # noqa: E402
from ops.models import Alert, Heartbeat, QueueSample  # noqa: E402
from reporting.business_days import local_day_bounds  # noqa: E402
from reporting.models import PLATFORM_KIND, ReportDefinition  # noqa: E402
from reporting.rendering import report_render  # noqa: E402
from schedules.models import TaskRun  # noqa: E402

REPORT_DAY = dt.date(2026, 11, 20)
TIMEZONE = "Europe/Berlin"
QUEUES = ["default", "imports", "reports", "ops"]
DATASETS = ["airports", "products", "daily_sales", "categories", "stations"]
TASKS = [f"team.task_{n}" for n in range(20)]


def generate(*, days: int, jobs: int, runs: int, alerts: int, samples: int) -> int:
    rng = random.Random(7)
    for model in (ImportJob, TaskRun, Alert, Heartbeat, QueueSample):
        model.objects.all().delete()
    written = 0
    for back in range(days):
        start, _ = local_day_bounds(day=REPORT_DAY - dt.timedelta(days=back), timezone=TIMEZONE)

        def moment() -> dt.datetime:
            return start + dt.timedelta(seconds=rng.randrange(86_400))  # noqa: B023

        new_jobs = ImportJob.objects.bulk_create(
            ImportJob(
                dataset=rng.choice(DATASETS),
                file="f.csv",
                status=rng.choice(["succeeded"] * 8 + ["failed", "partially_failed"]),
                rows_total=1000,
                rows_new=rng.randrange(1000),
                rows_updated=rng.randrange(50),
                rows_rejected=rng.randrange(3),
            )
            for _ in range(jobs)
        )
        for job in new_jobs:  # auto_now_add: set the day's instants afterwards
            job.created_at = moment()
        ImportJob.objects.bulk_update(new_jobs, ["created_at"], batch_size=5000)
        TaskRun.objects.bulk_create(
            (TaskRun(task_name=rng.choice(TASKS), queued_at=moment(),
                     status=rng.choice(["succeeded"] * 16 + ["failed", "skipped", "missed"]))
             for _ in range(runs)), batch_size=5000,
        )  # fmt: skip
        Alert.objects.bulk_create(
            Alert(
                kind="task_failing",
                subject=f"{back}-{n}",
                status="resolved",
                first_seen_at=(opened := moment()),
                last_seen_at=opened,
                resolved_at=opened + dt.timedelta(minutes=rng.randrange(1, 600)),
            )
            for n in range(alerts)
        )
        Heartbeat.objects.bulk_create(
            (Heartbeat(queue=rng.choice(QUEUES), celery_task_id=f"{back}-{n}", sent_at=moment(),
                       started_at=moment(), latency=rng.expovariate(10))
             for n in range(samples)), batch_size=5000,
        )  # fmt: skip
        QueueSample.objects.bulk_create(
            (QueueSample(queue=rng.choice(QUEUES), sampled_at=moment(), depth=rng.randrange(500),
                         consumers=rng.randrange(3))
             for _ in range(samples)), batch_size=5000,
        )  # fmt: skip
        written += jobs + runs + alerts + 2 * samples
    with connection.cursor() as cursor:
        for model in (ImportJob, TaskRun, Alert, Heartbeat, QueueSample):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return written


def _by_queue(model, stamp: str, field: str, start, end) -> dict[str, list]:
    values: dict[str, list] = defaultdict(list)
    rows = model.objects.filter(**{f"{stamp}__gte": start, f"{stamp}__lt": end})
    for queue, value in rows.values_list("queue", field).iterator():
        values[queue].append(value)
    return values


def python_side_baseline(start: dt.datetime, end: dt.datetime) -> dict:
    """The report's figures computed in Python from every row of the day."""
    imports: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for dataset, status, new, updated, rejected in (
        ImportJob.objects.filter(created_at__gte=start, created_at__lt=end)
        .values_list("dataset", "status", "rows_new", "rows_updated", "rows_rejected")
        .iterator()
    ):
        figures = imports[dataset]
        figures[0] += 1
        figures[1] += new
        figures[2] += updated
        figures[3] += rejected
        figures[4] += status in ("failed", "partially_failed")
    runs: dict[tuple[str, str], int] = defaultdict(int)
    for task, status in (
        TaskRun.objects.filter(queued_at__gte=start, queued_at__lt=end)
        .values_list("task_name", "status")
        .iterator()
    ):
        runs[task, status] += 1
    alerts = [0, 0, 0]
    for opened, resolved in (
        Alert.objects.filter(first_seen_at__lt=end)
        .values_list("first_seen_at", "resolved_at")
        .iterator()
    ):
        alerts[0] += opened >= start
        alerts[1] += resolved is not None and start <= resolved < end
        alerts[2] += resolved is None or resolved >= end
    latencies = _by_queue(Heartbeat, "started_at", "latency", start, end)
    latency = {
        queue: (statistics.mean(values), statistics.quantiles(values, n=20)[-1], max(values))
        for queue, values in latencies.items()
    }
    depths = _by_queue(QueueSample, "sampled_at", "depth", start, end)
    depth = {queue: (statistics.mean(values), max(values)) for queue, values in depths.items()}
    return {"imports": imports, "runs": runs, "alerts": alerts, "latency": latency, "depth": depth}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=500, help="import jobs a day")
    parser.add_argument("--runs", type=int, default=10_000, help="periodic runs a day")
    parser.add_argument("--alerts", type=int, default=100, help="alerts a day")
    parser.add_argument("--samples", type=int, default=11_520, help="heartbeats and samples a day")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-generate", action="store_true")
    args = parser.parse_args()

    if not args.skip_generate:
        started = time.perf_counter()
        written = generate(days=args.days, jobs=args.jobs, runs=args.runs, alerts=args.alerts,
                           samples=args.samples)  # fmt: skip
        print(f"generated {written:,} rows over {args.days} days in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    start, end = local_day_bounds(day=REPORT_DAY, timezone=TIMEZONE)
    day_rows = (
        ImportJob.objects.filter(created_at__gte=start, created_at__lt=end).count()
        + TaskRun.objects.filter(queued_at__gte=start, queued_at__lt=end).count()
        + Heartbeat.objects.filter(started_at__gte=start, started_at__lt=end).count()
        + QueueSample.objects.filter(sampled_at__gte=start, sampled_at__lt=end).count()
    )
    print(f"business day {REPORT_DAY} ({TIMEZONE}): {day_rows:,} rows of jobs, runs, "
          "heartbeats and samples")  # fmt: skip

    definition = ReportDefinition(
        name="Benchmark platform day", kind=PLATFORM_KIND, timezone=TIMEZONE,
        attachment_formats="csv,xlsx",
    )  # fmt: skip

    def render():
        return report_render(definition=definition, business_date=REPORT_DAY)

    rendered, median = render_measured(render, repeats=args.repeats, what="platform report render")
    base_median, _, _ = timed(lambda: python_side_baseline(start, end), args.repeats)
    sizes = ", ".join(f"{file.name} {len(file.content):,} bytes" for file in rendered.attachments)
    print(f"detail rows: {len(rendered.detail_rows)}; {sizes}; HTML {len(rendered.html_body):,} "
          f"chars")  # fmt: skip
    print(f"baseline (the same figures computed in Python from every row of the day): "
          f"{base_median * 1000:.0f} ms")  # fmt: skip
    print(f"render / baseline: {median / base_median:.2f}x")


if __name__ == "__main__":
    main()
