"""Benchmark: recovery after a whole worker dies mid-import, kill -> import done.

    DATABASE_URL=postgres://... REDIS_URL=redis://.../N \\
        .venv/bin/python benchmarks/ops_recovery.py [--rows 1000000] [--kill-after 3] [--trials 2]

With the platform's default ops settings (a worker's liveness key refreshed every
OPS_WORKER_ALIVE_INTERVAL=5 s, dead after OPS_WORKER_DEAD_AFTER=20 s, the others
looking every OPS_RECOVERY_INTERVAL=5 s), in one run:

1. baseline: the generated daily-sales file (benchmarks/batches_import.py's) imported
   by one `celery worker -c 2 -Q imports` subprocess, undisturbed: queued -> done;
2. per trial: the same import, the whole worker (main process and pool) SIGKILLed
   `--kill-after` seconds after the job started running, a new worker (another node
   name) started at once; measured: kill -> the dead worker's messages sent again
   (from ops.recovery's log) and kill -> the import done. No beat runs, so the
   stall sweep (IMPORT_STALL_SECONDS, 300 s) cannot be what recovers it.

Target: kill -> done under 60 s plus the import's own time (the baseline). Before
this path existed the same scenario took 5 min 37 s (the stall sweep). The script
checks each row landed once (table count = file rows). It TRUNCATEs
catalogue_dailysales: run it against a benchmark database only. No assertions.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# batches_import sets up Django (and MEDIA_ROOT under var/bench) before the app imports.
import batches_import as bench
from django.core.files import File

from batches.models import ImportJob
from batches.services.uploads import job_create, job_queue
from ops import recovery, state
from tests.support.processes import WorkerProcess, wait_for


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING")
    return env


def queued_job(path: Path) -> ImportJob:
    with path.open("rb") as handle:
        job = job_create(
            dataset="daily_sales", file=File(handle, name=path.name), name=path.name,
            source=ImportJob.Source.CLI,
        )  # fmt: skip
    job_queue(job_id=job.id)
    return job


def finished(job: ImportJob) -> ImportJob | None:
    job.refresh_from_db()
    return job if job.finished_at else None


def reset() -> None:
    bench.truncate()
    client = state.client()
    for key in [*client.scan_iter(state.PREFIX + "*"), "unacked", "unacked_index", "imports"]:
        client.delete(key)


def baseline(path: Path) -> float:
    reset()
    worker = WorkerProcess(queues="imports", env=worker_env())
    try:
        worker.start().wait_ready(timeout=120)
        started = time.monotonic()
        job = queued_job(path)
        wait_for(lambda: finished(job), timeout=3600, interval=0.05)
        return time.monotonic() - started
    finally:
        worker.stop()


def killed_trial(path: Path, *, kill_after: float, timeout: float) -> dict[str, float | str]:
    reset()
    first = WorkerProcess(queues="imports", env=worker_env())
    second = WorkerProcess(queues="imports", env=worker_env())
    try:
        first.start().wait_ready(timeout=120)
        job = queued_job(path)
        wait_for(
            lambda: ImportJob.objects.filter(id=job.id, status="running").exists(),
            timeout=600,
            interval=0.05,
        )
        time.sleep(kill_after)
        os.killpg(first.pid, signal.SIGKILL)
        killed_at, killed_ts = time.monotonic(), state.now_ts()
        second.start()
        try:
            wait_for(lambda: finished(job), timeout=timeout, interval=0.1)
        except AssertionError:  # wait_for's "timed out"
            return {"outcome": f"not done {timeout:.0f} s after the kill"}
        done = time.monotonic() - killed_at
        reports = [r for r in recovery.recoveries_recent() if r["hostname"] == first.hostname]
        resent = sum(len(r["resent"]) for r in reports)
        return {
            "outcome": job.status,
            "kill_to_done": done,
            "kill_to_resent": (reports[0]["recovered_at"] - killed_ts) if reports else float("nan"),
            "resent": float(resent),
            "rows": float(bench.count_rows()),
        }
    finally:
        second.stop()
        first.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--kill-after", type=float, default=3.0)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    bench.BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = bench.BENCH_DIR / f"sales-{args.rows}.csv"
    bench.generate(path, args.rows)
    from django.conf import settings

    print(f"{args.rows:,} rows; chunks of {settings.IMPORT_CHUNK_ROWS:,}; worker -c 2 -Q imports; "
          f"alive every {settings.OPS_WORKER_ALIVE_INTERVAL:g} s, dead after "
          f"{settings.OPS_WORKER_DEAD_AFTER:g} s, recovery every {settings.OPS_RECOVERY_INTERVAL:g} s; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    own = baseline(path)
    print(f"baseline, undisturbed import: {own:.1f} s (target kill->done < {60 + own:.1f} s)",
          flush=True)  # fmt: skip
    for trial in range(1, args.trials + 1):
        result = killed_trial(path, kill_after=args.kill_after, timeout=args.timeout)
        if "kill_to_done" not in result:
            print(f"trial {trial}: {result['outcome']}")
            continue
        print(f"trial {trial}: killed {args.kill_after:g} s in; re-sent {result['resent']:.0f} "
              f"message(s) {result['kill_to_resent']:.1f} s after the kill; "
              f"kill->done {result['kill_to_done']:.1f} s; job {result['outcome']}, "
              f"{result['rows']:,.0f} rows in the table (file {args.rows:,})", flush=True)  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
