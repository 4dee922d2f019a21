"""Benchmark: a team's wide file (19 columns, custom widgets) against raw COPY of it.

    .venv/bin/python benchmarks/batches_import_wide.py \\
        [--rows 1000000] [--only all|fast] [--rounds 3] [--slice 5000] [--sample-rows 1000000]
        [--compatible-rows 100000] [--compatible-rounds 3]

Uses the test settings (they install the team app, tests/team/, whose code is the
subject) against the embedded PostgreSQL and Redis, and migrates first. Generates under
var/bench/ (never committed) an order-lines export of `--rows` rows x 19 columns:
integers, decimals, text, an ISO date, a datetime written "%d/%m/%Y %H:%M", a store
code (a foreign key), and six nullable columns where the export writes "n/a"; and the
same file with every row changed. The Resource is `tests.team.imports.OrderLineResource`
(PlaceholderIntegerWidget / PlaceholderCharWidget on six columns, a DateTimeWidget with
an explicit format, a ForeignKeyWidget, the rest built in). Measured in the same run:

- raw COPY of the file into a table with the same primary key and unique constraint
  (the store code kept as text, COPY's own NULL 'n/a' and DMY date parsing); the same
  with the store column indexed too, as the model's table indexes its foreign key,
  and COPY + staging upsert into that one when every row is an update (both shown, not
  a goal's baseline); and COPY + staging upsert into the first (empty, then every row
  an update);
- `import_data` with its defaults on the first `--slice` rows, same Resource;
- our pipeline through a real `celery worker -c 2 -Q imports`: the fast path into the
  empty table and when every row is an update, with the time until the first chunk is
  committed and each worker process's peak RSS;
- with `--only all`: the same file through the same Resource with a row hook
  (`team_order_lines_checked`, a `before_import_row` that only rewrites its row: the
  fast path after the hook), with an instance hook (`team_order_lines_annotated`, a
  `before_save_instance` that only reads and sets fields: the fast path with the
  instance hook), and for `--compatible-rows` rows with the same hook calling a
  function of the team's (`team_order_lines_described`: the compatible path), each
  beside `import_data` on its own Resource; and the sample file of benchmarks/batches_import.py (daily sales, 8
  columns) at `--sample-rows`: raw COPY and our fast path, into the empty table.

The baselines, our fast path on the team file and (with `--only all`) the sample file
are measured in turn, `--rounds` times; each figure printed is the median of its
rounds, with the lowest and highest beside it, so a slow moment of the machine (a
checkpoint, a cold cache) does not decide a ratio; before each timed run its table is
vacuumed and a checkpoint is made (`settle`). `import_data` and the hooked
Resources are measured once, except the compatible path and `import_data` on its
Resource, measured in turn `--compatible-rounds` times (one run is ten seconds long).

It TRUNCATEs the tables it writes: run it against the embedded database only. No
assertions on figures; goals are printed as met or missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DJANGO_DEBUG", "False")
os.environ.setdefault("MEDIA_ROOT", str(ROOT / "var" / "bench" / "media"))
# A 10,000,000-row file is about 1.4 GiB: above the default upload limit (512 MiB).
os.environ.setdefault("IMPORT_MAX_UPLOAD_BYTES", str(8 * 2**30))

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Min  # noqa: E402
from django.utils import timezone  # noqa: E402

from batches.models import ImportChunk, ImportJob, ImportKey  # noqa: E402
from benchmarks.batches_import import (  # noqa: E402
    BENCH_DIR,
    Worker,
    import_export_slice,
    rate,
    run_job,
    store,
    timed,
)
from benchmarks.batches_import import TABLE as SALES_TABLE  # noqa: E402
from benchmarks.batches_import import count_rows as count_sales  # noqa: E402
from benchmarks.batches_import import generate as generate_sales  # noqa: E402
from benchmarks.batches_import import raw_copy as raw_copy_sales  # noqa: E402
from tests.team.imports import (  # noqa: E402
    AnnotatedOrderLineResource,
    CheckedOrderLineResource,
    DescribedOrderLineResource,
    OrderLineResource,
)

STORE_INDEXED = "team: raw COPY, store column indexed too (empty table)"
STORE_INDEXED_UPDATES = "team: COPY + staging upsert, all updates, store column indexed too"
ROW_HOOKED = "team: fast path after the row hook (row-hooked), empty table"
INSTANCE_HOOKED = "team: fast path with the instance hook (instance-hooked), empty table"
COMPATIBLE = "team: compatible path (hook calls team code), empty table"
# Each hooked Resource's figures against import_data() on that Resource.
BASELINES = {
    "(row-hooked)": "team: import_data defaults, row-hooked Resource",
    "(instance-hooked)": "team: import_data defaults, instance-hooked Resource",
    "(hook calls team code)": "team: import_data defaults, Resource whose hook calls team code",
}
from tests.team.models import OrderLine, Store  # noqa: E402

TABLE = OrderLine._meta.db_table
RAW_TABLE = "bench_orderline_raw"
HEADER = ["order", "line", "store", "sku", "description", "quantity", "unit_price",
          "discount", "tax", "total", "ordered_on", "shipped_at", "status", "channel",
          "region", "priority", "boxes", "weight_kg", "note"]  # fmt: skip
RAW_COLUMNS = ", ".join(f'"{name}"' for name in HEADER)
STORES = [f"ST{n:04d}" for n in range(250)]
WORDS = ["blue", "steel", "kit", "large", "organic", "spare", "cable", "lamp", "oak", "pack",
         "mini", "pro", "set", "glass", "cotton", "shelf", "tool", "red", "bag", "hinge"]  # fmt: skip
STATUSES = ["open", "picked", "shipped", "delivered", "returned"]
CHANNELS = ["web", "store", "phone", "marketplace"]
REGIONS = ["north", "south", "east", "west", "central", "islands", "export", "online"]


def generate(path: Path, rows: int, *, bump: int = 0) -> None:
    """Write `rows` order lines (seeded); `bump` changes quantity and total on every row."""
    if path.exists() and path.stat().st_size > 0:
        return
    rng = random.Random(11)
    choice, randint, random_ = rng.choice, rng.randint, rng.random
    base = 5_000_000
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(HEADER) + "\n")
        block = []
        for i in range(rows):
            quantity = randint(1, 40)
            cents = randint(50, 99_999)
            discount = choice((0, 0, 0, 5, 10, 15))
            net = quantity * cents * (100 - discount) // 100
            tax = net * 20 // 100
            day = 1 + i * 365 // max(rows, 1)
            month, mday = 1 + (day - 1) // 31 % 12, 1 + (day - 1) % 28
            description = f"{choice(WORDS)} {choice(WORDS)} {choice(WORDS)}"
            note = "" if random_() < 0.85 else f'"call before delivery, gate {randint(1, 99)}"'
            cells = [
                str(base + i // 4),
                str(i % 4 + 1),
                choice(STORES),
                f"SKU-{randint(0, 60_000):05d}",
                f'"{description}, {randint(1, 9)} pcs"',
                "n/a" if random_() < 0.03 else str(quantity + bump),
                f"{cents // 100}.{cents % 100:02d}",
                f"{discount}.00",
                f"{tax // 100}.{tax % 100:02d}",
                f"{(net + tax) // 100 + bump}.{(net + tax) % 100:02d}",
                f"2026-{month:02d}-{mday:02d}",
                f"{min(mday + 2, 28):02d}/{month:02d}/2026 {randint(0, 23):02d}:{randint(0, 59):02d}",
                "n/a" if random_() < 0.03 else choice(STATUSES),
                "n/a" if random_() < 0.03 else choice(CHANNELS),
                "n/a" if random_() < 0.05 else choice(REGIONS),
                "n/a" if random_() < 0.3 else str(randint(1, 5)),
                "n/a" if random_() < 0.1 else str(randint(1, 30)),
                f"{randint(1, 40_000) / 1000:.3f}",
                note,
            ]
            block.append(",".join(cells))
            if len(block) == 10_000:
                out.write("\n".join(block) + "\n")
                block = []
        if block:
            out.write("\n".join(block) + "\n")


def ensure_stores() -> None:
    Store.objects.bulk_create(
        [Store(code=code, name=f"Store {code}") for code in STORES], ignore_conflicts=True
    )


def create_raw_table(*, store_indexed: bool = False) -> None:
    """The model's table with the store code as text: same key, same unique constraint,
    new (each timed run `settle`s it first). `store_indexed`: the store column indexed too, as the model's
    table indexes its foreign key (its index on store_id goes with that column)."""
    drop_raw_table()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {RAW_TABLE} (LIKE {TABLE} INCLUDING ALL)")
        cursor.execute(
            f"ALTER TABLE {RAW_TABLE} DROP COLUMN store_id, ADD COLUMN store varchar(12) NOT NULL"
        )
        if store_indexed:
            cursor.execute(f"CREATE INDEX ON {RAW_TABLE} (store)")


def drop_raw_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")


def truncate(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
    settle(table)


def settle(table: str) -> None:
    """Before each timed run: the table vacuumed and analyzed (so autovacuum does not
    start on it mid-run, as it did after a million-row load) and a checkpoint (so each
    run starts with no dirty pages to write and its own full-page images to log)."""
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")


def _copy_file(cursor, table: str, path: Path) -> None:
    cursor.execute("SET LOCAL datestyle = 'ISO, DMY'")
    sql = f"COPY {table} ({RAW_COLUMNS}) FROM STDIN (FORMAT csv, HEADER true, NULL 'n/a')"
    with cursor.copy(sql) as copy, path.open("rb") as source:
        for block in iter(lambda: source.read(1024 * 1024), b""):
            copy.write(block)


def raw_copy(path: Path) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        _copy_file(cursor, RAW_TABLE, path)


def staged_upsert(path: Path) -> None:
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in HEADER[2:])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE bench_wide_stage ON COMMIT DROP AS "
            f"SELECT {RAW_COLUMNS} FROM {RAW_TABLE} WITH NO DATA"
        )
        _copy_file(cursor, "bench_wide_stage", path)
        cursor.execute(
            f"INSERT INTO {RAW_TABLE} ({RAW_COLUMNS}) SELECT {RAW_COLUMNS} FROM bench_wide_stage "
            f'ON CONFLICT ("order", line) DO UPDATE SET {updates}'
        )


def run_import_data(resource_class, path: Path, rows: int) -> int:
    data = import_export_slice(path, rows)
    result = resource_class().import_data(data, dry_run=False, raise_errors=True)
    assert not result.has_errors()
    assert not result.has_validation_errors()
    return len(data)


class Run:
    """One pipeline run: seconds to every row committed and to the first chunk committed."""

    def __init__(self, path: Path, dataset: str) -> None:
        job = store(path, dataset)
        queued = timezone.now()
        self.seconds, job = run_job(job)
        self.job = job
        first = ImportChunk.objects.filter(job=job, status=ImportChunk.Status.DONE).aggregate(
            first=Min("finished_at")
        )["first"]
        self.first_chunk = (first - queued).total_seconds() if first else float("nan")
        assert job.status == ImportJob.Status.SUCCEEDED, (job.status, job.error)
        self.keys_left, self.keys_waited = _claims_left(job)
        self.temp_bytes = _temp_bytes()
        default_storage.delete(job.file)  # the stored upload: disk stays bounded


def _claims_left(job: ImportJob) -> tuple[int, float]:
    """The job's key claims still held, and seconds waited: they are dropped just after
    the job's end is committed."""
    started = time.perf_counter()
    while ImportKey.objects.filter(job=job).exists() and time.perf_counter() - started < 60:
        time.sleep(0.05)
    return ImportKey.objects.filter(job=job).count(), time.perf_counter() - started


def _temp_bytes() -> int:
    """Bytes PostgreSQL has written to temporary files so far (staging spills)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def _media_bytes() -> int:
    media = Path(settings.MEDIA_ROOT)
    return sum(p.stat().st_size for p in media.rglob("*") if p.is_file())


class Rounds(dict):
    """Every round's rows/s by label; a label's figure is the median of its rounds.

    The baselines and our pipeline are measured in turn in each round, so a slow
    moment of the machine (a checkpoint, a cold cache) falls on both alike."""

    def add(self, label: str, value: float) -> None:
        self.setdefault(label, []).append(value)
        print(f"  measured {label}: {value:,.0f} rows/s", flush=True)

    def median(self, label: str) -> float:
        return statistics.median(self[label])

    def spread(self, label: str) -> str:
        values = self[label]
        return f"{min(values):,.0f}-{max(values):,.0f}" if len(values) > 1 else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["all", "fast"], default="all")
    parser.add_argument("--slice", type=int, default=5_000)
    parser.add_argument("--compatible-rows", type=int, default=100_000)
    parser.add_argument("--compatible-rounds", type=int, default=3)
    parser.add_argument("--sample-rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    ensure_stores()
    rows = args.rows
    full = BENCH_DIR / f"orders-{rows}.csv"
    updates = BENCH_DIR / f"orders-{rows}-updates.csv"
    started = time.perf_counter()
    generate(full, rows)
    generate(updates, rows, bump=1)
    print(f"files ready in {time.perf_counter() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        server = []
        for name in ("shared_buffers", "wal_buffers", "max_wal_size"):
            cursor.execute(f"SHOW {name}")
            server.append(f"{name} {cursor.fetchone()[0]}")
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"PostgreSQL {pg_version} ({', '.join(server)}); "
        f"chunk size {settings.IMPORT_CHUNK_ROWS:,} rows; "
        f"{args.rounds} rounds, each figure the median of its rounds (lowest-highest beside it)"
    )
    print(
        f"team file: {rows:,} rows x {len(HEADER)} columns, "
        f"{full.stat().st_size / 2**20:,.0f} MiB (OrderLineResource: 6 placeholder widgets, "
        "DateTimeWidget '%d/%m/%Y %H:%M', ForeignKeyWidget)"
    )
    results = Rounds()
    notes: list[str] = []
    truncate(TABLE)
    sliced = min(args.slice, rows)
    results.add("team: import_data defaults", rate(
        sliced, timed(lambda: run_import_data(OrderLineResource, full, sliced))
    ))  # fmt: skip
    if args.only == "all":
        truncate(TABLE)
        results.add(BASELINES["(row-hooked)"], rate(
            sliced, timed(lambda: run_import_data(CheckedOrderLineResource, full, sliced))
        ))  # fmt: skip
        truncate(TABLE)
        results.add(BASELINES["(instance-hooked)"], rate(
            sliced, timed(lambda: run_import_data(AnnotatedOrderLineResource, full, sliced))
        ))  # fmt: skip
    sample = BENCH_DIR / f"sales-{args.sample_rows}.csv"
    with_sample = args.only == "all" and args.sample_rows
    if with_sample:
        generate_sales(sample, args.sample_rows)

    memory: dict[str, int] = {}
    first_chunks: dict[str, list[float]] = {}
    worker = Worker()
    try:
        worker.reset_peaks()
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_} of {args.rounds}", flush=True)
            create_raw_table()
            settle(RAW_TABLE)
            results.add("team: raw COPY (empty table)", rate(rows, timed(lambda: raw_copy(full))))
            create_raw_table(store_indexed=True)
            settle(RAW_TABLE)
            results.add(STORE_INDEXED, rate(rows, timed(lambda: raw_copy(full))))
            settle(RAW_TABLE)
            results.add(STORE_INDEXED_UPDATES, rate(rows, timed(lambda: staged_upsert(updates))))
            create_raw_table()
            settle(RAW_TABLE)
            results.add("team: COPY + staging upsert, empty",
                        rate(rows, timed(lambda: staged_upsert(full))))  # fmt: skip
            settle(RAW_TABLE)
            results.add("team: COPY + staging upsert, all updates",
                        rate(rows, timed(lambda: staged_upsert(updates))))  # fmt: skip
            drop_raw_table()
            truncate(TABLE)
            run = Run(full, "team_order_lines")
            assert run.job.rows_new == rows
            assert OrderLine.objects.count() == rows
            results.add("team: fast path, empty table", rate(rows, run.seconds))
            first_chunks.setdefault("empty table", []).append(run.first_chunk)
            settle(TABLE)
            run = Run(updates, "team_order_lines")
            assert run.job.rows_updated == rows, (run.job.rows_updated, run.job.rows_unchanged)
            results.add("team: fast path, all updates", rate(rows, run.seconds))
            first_chunks.setdefault("all updates", []).append(run.first_chunk)
            if with_sample:
                truncate(SALES_TABLE)
                results.add("sample: raw COPY (empty table)",
                            rate(args.sample_rows, timed(lambda: raw_copy_sales(sample))))  # fmt: skip
                truncate(SALES_TABLE)
                sample_run = Run(sample, "daily_sales")
                assert count_sales() == args.sample_rows
                results.add("sample: fast path, empty table",
                            rate(args.sample_rows, sample_run.seconds))  # fmt: skip
        for which, seconds in first_chunks.items():
            notes.append(f"team fast path, {which}: first chunk committed "
                         + ", ".join(f"{s:.2f}" for s in seconds)
                         + " s after the job was queued")  # fmt: skip
        notes.append(
            f"after the team fast-path runs: {run.keys_left} key claims left "
            f"({run.keys_waited:.1f} s after the end), PostgreSQL temp "
            f"files written so far {run.temp_bytes / 2**20:,.0f} MiB, stored uploads deleted "
            f"(var/bench/media holds {_media_bytes() / 2**20:,.0f} MiB)"
        )
        memory["fast path (team and sample, every round)"] = max(worker.peaks.values())
        notes.append(
            "RSS per process, fast path (main, children): "
            + ", ".join(f"{p / 2**20:,.0f} MB" for p in sorted(worker.peaks.values()))
        )
        if args.only == "all":
            for dataset, label, path_name in [
                ("team_order_lines_checked", ROW_HOOKED, "after the row hook"),
                ("team_order_lines_annotated", INSTANCE_HOOKED, "with the instance hook"),
            ]:
                truncate(TABLE)
                worker.reset_peaks()
                run = Run(full, dataset)
                assert run.job.rows_new == rows
                results.add(label, rate(rows, run.seconds))
                memory[f"team fast path {path_name}"] = max(worker.peaks.values())
            compatible = BENCH_DIR / f"orders-{args.compatible_rows}.csv"
            generate(compatible, args.compatible_rows)
            worker.reset_peaks()
            # One run of each is some seconds long: a slow moment of the machine would
            # decide the ratio, so both sides are measured in turn, --compatible-rounds times.
            for _ in range(args.compatible_rounds):
                truncate(TABLE)
                results.add(BASELINES["(hook calls team code)"], rate(sliced, timed(
                    lambda: run_import_data(DescribedOrderLineResource, full, sliced)
                )))  # fmt: skip
                truncate(TABLE)
                run = Run(compatible, "team_order_lines_described")
                assert run.job.rows_new == args.compatible_rows
                results.add(COMPATIBLE, rate(args.compatible_rows, run.seconds))
            memory["team compatible path"] = max(worker.peaks.values())
    finally:
        worker.stop()
        drop_raw_table()

    print()
    print(f"{'measurement':72} {'rows/s':>10} {'vs raw COPY':>12} {'vs import_data':>15}"
          f"  {'rounds: lowest-highest'}")  # fmt: skip
    shown = ["team: raw COPY (empty table)", STORE_INDEXED, "team: COPY + staging upsert, empty",
             "team: COPY + staging upsert, all updates", STORE_INDEXED_UPDATES,
             "team: import_data defaults",
             "team: fast path, empty table", "team: fast path, all updates",
             "sample: raw COPY (empty table)", "sample: fast path, empty table",
             BASELINES["(row-hooked)"], ROW_HOOKED, BASELINES["(instance-hooked)"],
             INSTANCE_HOOKED, BASELINES["(hook calls team code)"], COMPATIBLE]  # fmt: skip
    for label in [label for label in shown if label in results]:
        value = results.median(label)
        copy = results.median(f"{label.split(':')[0]}: raw COPY (empty table)")
        hooked = [name for suffix, name in BASELINES.items() if suffix in label]
        baseline = results.median(hooked[0] if hooked else "team: import_data defaults")
        versus = f"{value / baseline:>14.1f}x" if label.startswith("team") else ""
        print(f"{label:72} {value:>10,.0f} {value / copy:>11.2f}x {versus:>15}  "
              f"{results.spread(label)}")  # fmt: skip
    rounds = f", but {args.compatible_rounds} times beside the compatible path"
    print(f"(import_data figures on the first {sliced:,} rows of the same file, measured "
          f"once{rounds if COMPATIBLE in results else ''})")  # fmt: skip
    for note in notes:
        print(note)
    for label, peak in memory.items():
        print(f"peak worker-process RSS, {label}: {peak / 2**20:,.0f} MB")
    print()
    team_copy = results.median("team: raw COPY (empty table)")
    goals = [
        ("team fast path, empty table >= 0.5x raw COPY",
         results.median("team: fast path, empty table") / team_copy >= 0.5),
        ("team fast path, all updates >= 0.9x staging upsert",
         results.median("team: fast path, all updates")
         / results.median("team: COPY + staging upsert, all updates") >= 0.9),
        ("worker RSS < 300 MB (fast path)",
         memory["fast path (team and sample, every round)"] < 300 * 2**20),
    ]  # fmt: skip
    if "sample: fast path, empty table" in results:
        goals.append(
            ("sample fast path >= 0.75x raw COPY",
             results.median("sample: fast path, empty table")
             / results.median("sample: raw COPY (empty table)") >= 0.75)
        )  # fmt: skip
    if ROW_HOOKED in results:
        goals.append(
            ("team row-hooked Resource >= 50x import_data (fast path after the row hook)",
             results.median(ROW_HOOKED) / results.median(BASELINES["(row-hooked)"]) >= 50)
        )  # fmt: skip
    if INSTANCE_HOOKED in results:
        goals.append(
            ("team instance-hooked Resource >= 50x import_data (fast path with the hook)",
             results.median(INSTANCE_HOOKED) / results.median(BASELINES["(instance-hooked)"])
             >= 50)
        )  # fmt: skip
    if COMPATIBLE in results:
        goals.append(
            ("team Resource whose hook calls team code >= 50x import_data (compatible path)",
             results.median(COMPATIBLE) / results.median(BASELINES["(hook calls team code)"])
             >= 50)
        )  # fmt: skip
    for text, met in goals:
        print(f"goal {'met   ' if met else 'MISSED'} {text}")


if __name__ == "__main__":
    main()
