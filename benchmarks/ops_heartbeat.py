"""Benchmark: CPU cost of queue heartbeats + ops checks, and time from a worker stall to
its alert, with real worker and beat processes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bp_ops \\
    REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/ops_heartbeat.py [--seconds 60] [--interval 2]

Use a Redis database of your own: the script starts a worker that consumes every
platform queue there, and it empties the ops keys. It disables every other
periodic task in the database while it runs (and leaves them disabled; run it on a
benchmark database).

1. CPU: the same worker (`-c 2`, all queues) + beat pair runs twice for `--seconds`:
   idle (no heartbeat schedules, checks loops off) and with heartbeats every
   `--interval` seconds to all four queues and the checks loops on. The CPU time of
   both process trees (user + system, psutil) is compared; the extra CPU per cycle
   (4 heartbeats sent, run and recorded, plus one run of the checks) is then
   expressed as % of one core at the default interval (OPS_HEARTBEAT_INTERVAL=30 s).
   Database and Redis server CPU is not included; queries per check are printed.
2. Stall to alert: a second worker consumes only `imports`; it is stopped with
   SIGSTOP (a hung worker) or killed with SIGKILL, and the time until an open alert
   for `imports` exists is measured, at `--interval` and once at the default 30 s.

Prints figures; no assertions.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "False")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402

from ops import state  # noqa: E402
from ops.conditions import platform_status  # noqa: E402
from ops.models import Alert, Heartbeat  # noqa: E402
from ops.periodic import heartbeat_schedules  # noqa: E402
from schedules.services.default_schedules import default_schedules_sync  # noqa: E402
from tests.support.processes import BeatProcess, WorkerProcess  # noqa: E402

DEFAULT_INTERVAL = 30


def env_for(interval: int, *, checks: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="False",
        PYTHONUNBUFFERED="1",
        OPS_HEARTBEAT_INTERVAL=str(interval),
        OPS_CHECKS_IN_BEAT="1" if checks else "0",
        OPS_CHECKS_IN_WORKERS="1" if checks else "0",
        LOG_LEVEL="WARNING",
    )
    return env


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            parent = psutil.Process(pid)
            for proc in [parent, *parent.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def reset(*, interval: int, heartbeats: bool) -> None:
    client = state.client()
    for key in client.scan_iter(state.PREFIX + "*"):
        client.delete(key)
    for queue in settings.PLATFORM_QUEUES:
        for key in state.queue_list_keys(queue):
            client.delete(key)
    Alert.objects.all().delete()
    Heartbeat.objects.all().delete()
    PeriodicTask.objects.update(enabled=False)
    if heartbeats:
        default_schedules_sync(entries=heartbeat_schedules(interval=interval))
        PeriodicTask.objects.filter(task="ops.heartbeat").update(enabled=True, last_run_at=None)


def run_phase(*, seconds: int, interval: int, active: bool, warmup: int = 8) -> tuple[float, int]:
    reset(interval=interval, heartbeats=active)
    env = env_for(interval, checks=active)
    worker, beat = WorkerProcess(env=env), BeatProcess(env=env)
    try:
        # Stopped in `finally` even when it never becomes ready: no orphan consumers.
        worker.start().wait_ready(timeout=120)
        beat.start()
        time.sleep(warmup)
        pids = [worker.pid, beat.pid]
        beats_before = Heartbeat.objects.count()
        cpu_before, wall_before = tree_cpu(pids), time.monotonic()
        time.sleep(seconds)
        cpu = tree_cpu(pids) - cpu_before
        wall = time.monotonic() - wall_before
        beats = Heartbeat.objects.count() - beats_before
    finally:
        beat.stop()
        worker.stop()
    return cpu / wall, beats


def stall_to_alert(*, interval: int, how: int, timeout: float) -> tuple[float, str] | None:
    reset(interval=interval, heartbeats=True)
    env = env_for(interval, checks=True)
    general = WorkerProcess(queues="default,reports,ops", env=env)
    imports = WorkerProcess(queues="imports", env=env)
    beat = BeatProcess(env=env)
    how_applied = False
    try:
        general.start().wait_ready(timeout=120)
        imports.start().wait_ready(timeout=120)
        beat.start()
        deadline = time.monotonic() + 30 + 3 * interval
        while time.monotonic() < deadline:
            green = not Alert.objects.filter(status="open", subject="imports").exists()
            if green and Heartbeat.objects.filter(queue="imports").exists():
                break
            time.sleep(0.2)
        else:
            print("  (queues never became green before the stall)")
            return None
        time.sleep(interval)  # land the stall at a random point of the cycle
        os.killpg(imports.pid, how)
        how_applied = True
        stalled_at = time.monotonic()
        while time.monotonic() - stalled_at < timeout:
            alert = Alert.objects.filter(status="open", subject="imports").order_by("id").first()
            if alert:
                return time.monotonic() - stalled_at, alert.kind
            time.sleep(0.05)
        return None
    finally:
        if how == signal.SIGSTOP and how_applied:
            os.killpg(imports.pid, signal.SIGCONT)
        beat.stop()
        imports.stop()
        general.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--interval", type=int, default=2)
    parser.add_argument("--skip-default-interval", action="store_true")
    args = parser.parse_args()
    print(f"cpu count {psutil.cpu_count()}, interval {args.interval}s, {args.seconds}s per phase")

    with CaptureQueriesContext(connection) as queries:
        platform_status(read_workers=False)
    print(f"queries per status evaluation (no workers asked): {len(queries)}")

    idle, _ = run_phase(seconds=args.seconds, interval=args.interval, active=False)
    busy, beats = run_phase(seconds=args.seconds, interval=args.interval, active=True)
    cycles = args.seconds / args.interval
    extra_per_cycle = (busy - idle) * args.seconds / cycles
    print(f"idle worker+beat:                 {idle * 100:6.2f} % of one core")
    print(f"with heartbeats+checks every {args.interval}s: {busy * 100:6.2f} % of one core "
          f"({beats} heartbeats recorded in {args.seconds}s)")  # fmt: skip
    print(f"extra CPU per cycle (4 heartbeats + 1 check): {extra_per_cycle * 1000:.1f} ms")
    print(f"=> at the default {DEFAULT_INTERVAL}s interval: "
          f"{extra_per_cycle / DEFAULT_INTERVAL * 100:.3f} % of one core")  # fmt: skip

    for how, label in ((signal.SIGSTOP, "SIGSTOP (hung)"), (signal.SIGKILL, "SIGKILL (dead)")):
        for trial in range(2):
            result = stall_to_alert(interval=args.interval, how=how, timeout=10 * args.interval)
            shown = "no alert" if result is None else f"{result[0]:.2f}s ({result[1]})"
            print(f"imports worker {label}, interval {args.interval}s, trial {trial + 1}: {shown}")
    if not args.skip_default_interval:
        result = stall_to_alert(
            interval=DEFAULT_INTERVAL, how=signal.SIGSTOP, timeout=3 * DEFAULT_INTERVAL
        )
        shown = "no alert" if result is None else f"{result[0]:.2f}s ({result[1]})"
        print(f"imports worker SIGSTOP (hung), interval {DEFAULT_INTERVAL}s: {shown}")
    PeriodicTask.objects.filter(task="ops.heartbeat").update(enabled=False)


if __name__ == "__main__":
    main()
