"""Benchmark: CSV import of daily sales lines, our pipeline against its baselines.

    DATABASE_URL=postgres://... REDIS_URL=redis://.../N \\
        .venv/bin/python benchmarks/batches_import.py [--rows 1000000] [--slice 20000]

Generates an 8-column CSV (day, store_code, sku, units, unit_price, discount,
revenue, currency; natural key day+store_code+sku) under var/bench/ (never
committed), then measures in the same run, into `catalogue_dailysales`:

- raw PostgreSQL COPY of the file into the empty table;
- COPY into a staging table + INSERT ... ON CONFLICT DO UPDATE (empty table, then
  every row an update);
- Django bulk_create (rows parsed with the csv module);
- django-import-export `import_data` on the first `--slice` rows of the same file and
  Resource: defaults; use_bulk=True, batch_size=1000, skip_diff=True; and that plus
  force_init_instance=True (insert only);
- our pipeline from stored file to committed rows through a real `celery worker -c 2
  -Q imports` subprocess, into the empty table and when every row is an update,
  with the peak RSS of each worker process, for 100,000 rows and for all rows:
  - the fast path (`daily_sales`, a plain Resource);
  - the hooked Resource (`bench_sales_hooked`, benchmarks/batches_import_resources.py:
    a `before_import_row` hook and custom widgets on half of the columns), next to
    `import_data` with its defaults on that same Resource. Its hook only rewrites its
    row, so it takes the fast path after the row hook (the compatible path before
    that path existed); the lines name the path it takes.

It TRUNCATEs catalogue_dailysales: run it against a benchmark database only.
Prints every figure next to the raw-COPY and import_data baselines. No assertions.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "False")
os.environ.setdefault("MEDIA_ROOT", str(BENCH_DIR / "media"))

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
import tablib  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.files import File  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from batches import registry  # noqa: E402
from batches.models import ImportJob  # noqa: E402
from batches.services.uploads import job_create, job_queue  # noqa: E402
from benchmarks.batches_import_resources import DATASET as HOOKED  # noqa: E402
from benchmarks.batches_import_resources import HookedSalesResource  # noqa: E402
from catalogue.models import DailySales  # noqa: E402
from catalogue.resources import DailySalesResource  # noqa: E402
from catalogue.services import demo_catalogue_ensure, demo_sales_rows  # noqa: E402

TABLE = DailySales._meta.db_table
COLUMNS = "day, store_code, sku, units, unit_price, discount, revenue, currency"
HEADER = ["day", "store_code", "sku", "units", "unit_price", "discount", "revenue", "currency"]


def generate(path: Path, rows: int, *, bump: int = 0) -> None:
    """Write `rows` sales lines; `bump` changes units (and revenue) so every row differs."""
    if path.exists() and path.stat().st_size > 0:
        return
    products = demo_catalogue_ensure()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for day, store, sku, units, price, discount, revenue, currency in demo_sales_rows(
            rows=rows, products=products, end_day=dt.date(2026, 11, 20)
        ):
            if bump:
                units += bump
                revenue = (price * units * (1 - discount)).quantize(Decimal("0.01"))
            writer.writerow(
                [day.isoformat(), store, sku, units, price, discount, revenue, currency]
            )


def truncate() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}")
        cursor.execute(f"VACUUM ANALYZE {TABLE}")


def count_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        return cursor.fetchone()[0]


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def raw_copy(path: Path) -> None:
    sql = f"COPY {TABLE} ({COLUMNS}) FROM STDIN (FORMAT csv, HEADER true)"
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.copy(sql) as copy,
        path.open("rb") as source,
    ):
        for block in iter(lambda: source.read(1024 * 1024), b""):
            copy.write(block)


def staged_upsert(path: Path) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE bench_stage ON COMMIT DROP AS SELECT {COLUMNS} FROM {TABLE} "
            "WITH NO DATA"
        )
        with (
            cursor.copy(
                f"COPY bench_stage ({COLUMNS}) FROM STDIN (FORMAT csv, HEADER true)"
            ) as copy,
            path.open("rb") as source,
        ):
            for block in iter(lambda: source.read(1024 * 1024), b""):
                copy.write(block)
        cursor.execute(
            f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM bench_stage "
            "ON CONFLICT (day, store_code, sku) DO UPDATE SET units = EXCLUDED.units, "
            "unit_price = EXCLUDED.unit_price, discount = EXCLUDED.discount, "
            "revenue = EXCLUDED.revenue, currency = EXCLUDED.currency"
        )


def django_bulk_create(path: Path) -> None:
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        next(reader)
        batch = []
        for day, store, sku, units, price, discount, revenue, currency in reader:
            batch.append(
                DailySales(
                    day=dt.date.fromisoformat(day),
                    store_code=store,
                    sku=sku,
                    units=int(units),
                    unit_price=Decimal(price),
                    discount=Decimal(discount),
                    revenue=Decimal(revenue),
                    currency=currency,
                )
            )
            if len(batch) == 5000:
                DailySales.objects.bulk_create(batch)
                batch = []
        DailySales.objects.bulk_create(batch)


class BulkResource(DailySalesResource):
    class Meta(DailySalesResource.Meta):
        use_bulk = True
        batch_size = 1000
        skip_diff = True


class InsertOnlyResource(DailySalesResource):
    class Meta(DailySalesResource.Meta):
        use_bulk = True
        batch_size = 1000
        skip_diff = True
        force_init_instance = True


def import_export_slice(path: Path, rows: int) -> tablib.Dataset:
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        data = tablib.Dataset(headers=header)
        for number, row in enumerate(reader):
            if number == rows:
                break
            data.append(row)
    return data


def run_import_data(resource_class, dataset: tablib.Dataset) -> None:
    result = resource_class().import_data(dataset, dry_run=False, raise_errors=True)
    assert not result.has_errors()


class Worker:
    """A real `celery worker -c 2 -Q imports` subprocess and its peak RSS per process."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "imports", "-c", "2",
             "-P", "prefork", "-n", f"bench-{os.getpid()}@localhost", "-l", "warning",
             "-I", "benchmarks.batches_import_resources",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(BENCH_DIR / "worker.log").open("ab"),
            start_new_session=True,
        )  # fmt: skip
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        from config.celery_app import app

        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[f"bench-{os.getpid()}@localhost"], timeout=0.5):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("benchmark worker did not start; see var/bench/worker.log")

    def _sample(self) -> None:
        parent = psutil.Process(self.process.pid)
        while not self._stop.is_set():
            try:
                for proc in [parent, *parent.children(recursive=True)]:
                    rss = proc.memory_info().rss
                    self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def reset_peaks(self) -> None:
        self.peaks.clear()

    def stop(self) -> None:
        self._stop.set()
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def pipeline(path: Path, dataset: str = "daily_sales") -> tuple[float, ImportJob]:
    """Store the file (not timed), then time queue -> every row committed."""
    return run_job(store(path, dataset))


def store(path: Path, dataset: str) -> ImportJob:
    with path.open("rb") as handle:
        return job_create(
            dataset=dataset,
            file=File(handle, name=path.name),
            name=path.name,
            source=ImportJob.Source.CLI,
        )


def run_job(job: ImportJob) -> tuple[float, ImportJob]:
    """Queue a stored job; seconds until it finished."""
    started = time.perf_counter()
    job_queue(job_id=job.id)
    while True:
        job.refresh_from_db()
        if job.finished_at:
            break
        time.sleep(0.05)
    return time.perf_counter() - started, job


class Results(dict):
    """Measured rows/s by label; each is printed as soon as it is measured."""

    def __setitem__(self, label: str, value: float) -> None:
        super().__setitem__(label, value)
        print(f"  measured {label}: {value:,.0f} rows/s", flush=True)


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=100_000)
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    rows, small = args.rows, min(args.small, args.rows)
    full = BENCH_DIR / f"sales-{rows}.csv"
    updates = BENCH_DIR / f"sales-{rows}-updates.csv"
    small_file = BENCH_DIR / f"sales-{small}.csv"
    generate(full, rows)
    generate(updates, rows, bump=1)
    generate(small_file, small)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"PostgreSQL {pg_version}, Python {platform.python_version()}, "
        f"psycopg {__import__('psycopg').__version__}, Django {django.get_version()}"
    )
    print(
        f"file: {rows:,} rows x 8 columns, {full.stat().st_size / 2**20:.1f} MiB; "
        f"chunk size {settings.IMPORT_CHUNK_ROWS:,} rows"
    )
    results = Results()

    truncate()
    results["raw COPY (empty table)"] = rate(rows, timed(lambda: raw_copy(full)))
    truncate()
    results["COPY + staging upsert, empty"] = rate(rows, timed(lambda: staged_upsert(full)))
    results["COPY + staging upsert, all updates"] = rate(
        rows, timed(lambda: staged_upsert(updates))
    )
    truncate()
    results["Django bulk_create"] = rate(rows, timed(lambda: django_bulk_create(full)))
    data = import_export_slice(full, args.slice)
    for label, resource in [
        ("import_data defaults", DailySalesResource),
        ("import_data use_bulk+skip_diff", BulkResource),
        ("import_data insert-only (force_init_instance)", InsertOnlyResource),
        ("import_data defaults, hooked Resource", HookedSalesResource),
    ]:
        truncate()
        results[label] = rate(len(data), timed(lambda r=resource: run_import_data(r, data)))

    memory: dict[str, int] = {}
    hooked_path = registry.get(HOOKED).path
    worker = Worker()
    try:
        truncate()
        worker.reset_peaks()
        seconds, job = pipeline(small_file)
        memory[f"{small:,} rows"] = max(worker.peaks.values())
        results[f"pipeline {small:,} rows, empty"] = rate(job.rows_new, seconds)
        truncate()
        worker.reset_peaks()
        seconds, job = pipeline(full)
        assert job.status == ImportJob.Status.SUCCEEDED, (job.status, job.error)
        assert count_rows() == rows
        memory[f"{rows:,} rows"] = max(worker.peaks.values())
        results["pipeline, empty table"] = rate(job.rows_new, seconds)
        seconds, job = pipeline(updates)
        assert job.rows_updated == rows, (job.rows_updated, job.rows_unchanged)
        results["pipeline, all updates"] = rate(job.rows_updated, seconds)
        memory[f"{rows:,} rows (updates)"] = max(worker.peaks.values())
        peaks_by_process = sorted(worker.peaks.values())
        truncate()
        worker.reset_peaks()
        seconds, job = pipeline(small_file, HOOKED)
        assert job.status == ImportJob.Status.SUCCEEDED, (job.status, job.error)
        memory[f"hooked, {small:,} rows"] = max(worker.peaks.values())
        results[f"hooked, {hooked_path}, {small:,} rows, empty"] = rate(job.rows_new, seconds)
        truncate()
        worker.reset_peaks()
        seconds, job = pipeline(full, HOOKED)
        assert job.status == ImportJob.Status.SUCCEEDED, (job.status, job.error)
        memory[f"hooked, {rows:,} rows"] = max(worker.peaks.values())
        results[f"hooked, {hooked_path}, empty table"] = rate(job.rows_new, seconds)
        worker.reset_peaks()
        seconds, job = pipeline(updates, HOOKED)
        assert job.rows_updated == rows, (job.rows_updated, job.rows_unchanged)
        memory[f"hooked, {rows:,} rows (updates)"] = max(worker.peaks.values())
        results[f"hooked, {hooked_path}, all updates"] = rate(job.rows_updated, seconds)
    finally:
        worker.stop()

    copy = results["raw COPY (empty table)"]
    defaults = results["import_data defaults"]
    hooked_defaults = results["import_data defaults, hooked Resource"]
    print()
    print(f"{'measurement':58} {'rows/s':>10} {'vs raw COPY':>12} {'vs import_data':>15}")
    for label, value in results.items():
        # Each path against import_data with its defaults on the same Resource.
        baseline = hooked_defaults if "hooked" in label else defaults
        print(f"{label:58} {value:>10,.0f} {value / copy:>11.2f}x {value / baseline:>14.1f}x")
    print(
        f"(import_data figures measured on the first {len(data):,} rows of the same file; "
        "hooked-Resource lines compared with import_data on the hooked Resource)"
    )
    print()
    for label, peak in memory.items():
        print(f"peak worker-process RSS, {label}: {peak / 2**20:,.0f} MB")
    print(
        "RSS per process in the fast-path updates run (main, children): "
        + ", ".join(f"{p / 2**20:,.0f} MB" for p in peaks_by_process)
    )
    print()
    empty, updates_rate = results["pipeline, empty table"], results["pipeline, all updates"]
    staged_updates = results["COPY + staging upsert, all updates"]
    hooked = results[f"hooked, {hooked_path}, empty table"]
    small_peak, full_peak = memory[f"{small:,} rows"], memory[f"{rows:,} rows"]
    h_small, h_full = memory[f"hooked, {small:,} rows"], memory[f"hooked, {rows:,} rows"]
    goals = [
        ("fast path, empty table >= 0.5x raw COPY", empty / copy >= 0.5),
        ("fast path, all updates >= 0.9x staging upsert", updates_rate / staged_updates >= 0.9),
        (">= 50x import_data defaults (fast path)", empty / defaults >= 50),
        ("worker RSS < 300 MB (fast path)", full_peak < 300 * 2**20),
        ("RSS flat (+-10%) 100k vs 1M (fast path)", abs(full_peak - small_peak) <= 0.1 * small_peak),
        (">= 50x import_data defaults (hooked Resource, same Resource)",
         hooked / hooked_defaults >= 50),
        ("worker RSS < 300 MB (hooked Resource)", h_full < 300 * 2**20),
        ("RSS flat (+-10%) 100k vs 1M (hooked Resource)", abs(h_full - h_small) <= 0.1 * h_small),
    ]  # fmt: skip
    for text, met in goals:
        print(f"goal {'met   ' if met else 'MISSED'} {text}")


if __name__ == "__main__":
    main()
