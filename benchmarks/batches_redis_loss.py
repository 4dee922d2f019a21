"""Benchmark: Redis loses all its data in the middle of an import; Redis back -> done.

    .venv/bin/python benchmarks/batches_redis_loss.py [--rows 1000000] [--loss-after 3]
        [--baseline] [--timeout 600]

What a restart of a Redis that keeps nothing on disk does to an import under way: the
queued chunk messages, the unacknowledged ones, the chord counter and kombu's exchange
bindings are gone. The script starts its own Redis (valkey from the lock, loopback, a
free port, under var/bench/redis-loss) so that it can kill it; with DATABASE_URL unset
it uses the embedded PostgreSQL under var/ (devstack), migrated first. One `celery
worker -c 2 -Q imports` subprocess runs the import; no beat runs, so the stall sweep
(IMPORT_STALL_SECONDS, 300 s) cannot be what recovers it.

1. (--baseline) the generated daily-sales file imported undisturbed: queued -> done;
2. the same import; `--loss-after` seconds after the job started running, Redis is
   SIGKILLed, its append-only files deleted and started again, empty; a worker that
   exits on it (Celery/kombu 5.7's "Unrecoverable error") is started again, as a
   supervisor would. Measured: Redis answering -> import done, and whether every row
   landed once (table count = file rows).

Target: done within 60 s of Redis answering (the import's own remaining time
included). Before the relay noticed the loss (issue 22) it took 359 s for 1,000,000
rows (the stall sweep). It TRUNCATEs catalogue_dailysales: run it against a benchmark
database only. Bounded by --timeout; no assertions.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devstack.services import (  # noqa: E402
    ensure_services,
    restart_redis_empty,
    start_redis,
    stop_redis,
)

REDIS_DIR = ROOT / "var" / "bench" / "redis-loss"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = free_port()
os.environ["REDIS_URL"] = os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{PORT}/0"
os.environ["CELERY_RESULT_BACKEND"] = os.environ["REDIS_URL"]
REDIS_DIR.mkdir(parents=True, exist_ok=True)
start_redis(redis_dir=REDIS_DIR, port=PORT)
ensure_services()  # PostgreSQL only: REDIS_URL is set

# batches_import sets up Django (and MEDIA_ROOT under var/bench) before the app imports.
import batches_import as bench  # noqa: E402
import redis  # noqa: E402
from django.core.management import call_command  # noqa: E402
from ops_recovery import finished, queued_job, worker_env  # noqa: E402

from batches.models import ImportJob  # noqa: E402
from tests.support.processes import WorkerProcess, wait_for  # noqa: E402


def redis_restart_empty() -> float:
    """SIGKILL Redis, delete what it kept, start it again; time.monotonic() once it answers."""
    restart_redis_empty(redis_dir=REDIS_DIR, port=PORT)
    return time.monotonic()


def marker_written() -> bool:
    return bool(redis.Redis.from_url(os.environ["REDIS_URL"]).keys("ops:broker:marker:*"))


def run(path: Path, *, loss_after: float | None, timeout: float) -> str:
    bench.truncate()
    workers = [WorkerProcess(queues="imports", env=worker_env())]
    try:
        workers[0].start().wait_ready(timeout=120)
        wait_for(marker_written, timeout=30, message="the relay's first tick")
        started = time.monotonic()
        job = queued_job(path)
        if loss_after is None:
            wait_for(lambda: finished(job), timeout=timeout, interval=0.1)
            return f"undisturbed: queued -> done {time.monotonic() - started:.1f} s"
        wait_for(
            lambda: ImportJob.objects.filter(id=job.id, status="running").exists(),
            timeout=600, interval=0.05,
        )  # fmt: skip
        time.sleep(loss_after)
        left = job.chunks.exclude(status="done").count()
        answered = redis_restart_empty()
        time.sleep(5)
        if workers[0].process.poll() is not None:
            workers.append(WorkerProcess(queues="imports", env=worker_env()))
            workers[-1].start()
        try:
            wait_for(lambda: finished(job), timeout=timeout, interval=0.1)
        except AssertionError:
            return f"not done {timeout:.0f} s after Redis answered"
        done = time.monotonic() - answered
        restarted = " (the worker exited and was started again)" if len(workers) > 1 else ""
        return (
            f"Redis emptied {loss_after:g} s into the run with {left} of "
            f"{job.chunks.count()} chunks not done{restarted}; Redis answering -> done "
            f"{done:.1f} s; job {job.status}, {bench.count_rows():,} rows in the table"
        )
    finally:
        for worker in workers:
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loss-after", type=float, default=3.0)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    try:
        call_command("migrate", verbosity=0)
        bench.BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = bench.BENCH_DIR / f"sales-{args.rows}.csv"
        bench.generate(path, args.rows)
        from django.conf import settings

        print(f"{args.rows:,} rows; chunks of {settings.IMPORT_CHUNK_ROWS:,}; worker -c 2 "
              f"-Q imports; relay every {settings.IMPORT_RELAY_INTERVAL:g} s; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        if args.baseline:
            print(run(path, loss_after=None, timeout=args.timeout), flush=True)
        print(run(path, loss_after=args.loss_after, timeout=args.timeout), flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        stop_redis(redis_dir=REDIS_DIR)


if __name__ == "__main__":
    main()
