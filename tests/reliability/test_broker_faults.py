"""Redis faults: a private Redis server of the test's own is killed and restarted under
a real worker and beat, and is down when an upload commits."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from batches.models import ImportChunk, ImportJob
from config.celery_app import app
from devstack.services import restart_redis_empty, start_redis
from tests.reliability.conftest import assert_import_truth, redis_pid
from tests.reliability.faulty import SLOW_DAY, deliveries, sales_csv
from tests.support.imports import make_job, wait_for_finish
from tests.support.processes import BASE_DIR, LOG_DIR, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow]
TASKS = ["-I", "tests.reliability.faulty,tests.support.tasks"]


def _on_private_redis(env: dict[str, str], private: dict) -> dict[str, str]:
    return {**env, "REDIS_URL": private["url"], "REDIS_TEST_DB": "0", "PYTEST_XDIST_WORKER": "gw0"}


@contextmanager
def _client(url: str):
    """A Celery client on the private Redis: sends what the web process or beat would."""
    client = app.__class__("client", broker=url, backend=url, set_as_current=False)
    client.conf.update(
        task_serializer="json", accept_content=["json"], result_accept_content=["json"],
        task_routes=settings.CELERY_TASK_ROUTES, broker_connection_retry_on_startup=True,
    )  # fmt: skip
    try:
        yield client
    finally:
        client.close()


def _kill_redis(private: dict) -> None:
    os.kill(redis_pid(private), signal.SIGKILL)
    wait_for(lambda: not _alive(private), timeout=10, message="Redis to die")


def _alive(private: dict) -> bool:
    try:
        return redis.Redis.from_url(private["url"], socket_timeout=0.5).ping()
    except redis.ConnectionError:
        return False


def _ticking_task(key: str) -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    return PeriodicTask.objects.create(
        name=f"tick {key}", task="tests.record_tick", kwargs=json.dumps({"key": key}),
        interval=every, queue="default",
    )  # fmt: skip


def test_worker_and_beat_reconnect_after_redis_is_killed_while_idle(
    worker_process, beat_process, fault_env, private_redis, admin_client
):
    env = _on_private_redis(fault_env, private_redis)
    worker_process(queues="default,imports", concurrency=2, env=env, extra_args=TASKS)
    _ticking_task("ticks")
    beat = beat_process(env=env)
    ticks = redis.Redis.from_url(private_redis["url"])
    wait_for(lambda: int(ticks.get("ticks") or 0) >= 2, timeout=30, message="beat ticking")

    _kill_redis(private_redis)
    time.sleep(2)  # beat and the worker see the broker gone
    start_redis(redis_dir=private_redis["dir"], port=private_redis["port"])
    before = int(ticks.get("ticks") or 0)
    wait_for(lambda: int(ticks.get("ticks") or 0) >= before + 3, timeout=40,
             message="ticks after the restart: beat sent and the worker ran them")  # fmt: skip

    job = make_job("fault_sales", sales_csv(20))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)
    with _client(private_redis["url"]) as client:
        client.send_task("batches.plan_import", args=[job.id])
    job = wait_for_finish(job.id, timeout=30)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert_import_truth(admin_client, job, rows=20)
    assert beat.process.poll() is None


def test_an_import_whose_chord_was_in_flight_when_redis_died_is_driven_to_completion(
    worker_process, fault_env, private_redis, admin_client
):
    env = _on_private_redis(fault_env, private_redis)
    env.update(IMPORT_STALL_SECONDS="3", IMPORT_REQUEUE_SECONDS="3")
    worker = worker_process(queues="imports", concurrency=2, env=env, extra_args=TASKS)
    job = make_job("fault_sales", sales_csv(40, faults={15: SLOW_DAY}))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)
    with _client(private_redis["url"]) as client:
        client.send_task("batches.plan_import", args=[job.id])
        wait_for(lambda: deliveries(SLOW_DAY) == 1, timeout=30, message="the slow chunk")

        _kill_redis(private_redis)
        time.sleep(2)
        start_redis(redis_dir=private_redis["dir"], port=private_redis["port"])
        wait_for(
            lambda: worker.process.poll() is not None or worker.log().count("Connected to") >= 2,
            timeout=20,
            message="the worker to reconnect or exit",
        )
        if worker.process.poll() is not None:
            # Celery/kombu 5.7 can exit with "Unrecoverable error: AttributeError('NoneType'
            # object has no attribute 'hostname')" when Redis dies under a late-ack task:
            # closing the dead channel restores its unacked messages through a connection
            # that is gone. docker-compose restarts it (restart: unless-stopped); so do we.
            assert "Unrecoverable error" in worker.log()
            worker_process(queues="imports", concurrency=2, env=env, extra_args=TASKS)

        # What beat sends every minute in production (batches/periodic.py).
        def finished():
            job.refresh_from_db()
            if job.finished_at:
                return True
            client.send_task("batches.resume_stalled_imports")
            return False

        wait_for(finished, timeout=30, interval=2, message="the import to be driven to the end")
    job = wait_for_finish(job.id, timeout=5)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert_import_truth(admin_client, job, rows=40)


def _started_after(job: ImportJob, moment: float, *, timeout: float) -> float:
    """Seconds from `moment` (time.monotonic) until the job's planner ran."""

    def started():
        job.refresh_from_db()
        return job.started_at is not None

    wait_for(started, timeout=timeout, interval=0.1, message=f"import #{job.id} to start")
    return time.monotonic() - moment


def test_an_import_queued_while_redis_is_down_is_accepted_and_starts_when_redis_answers(
    worker_process, fault_env, private_redis, admin_client, tmp_path
):
    env = _on_private_redis(fault_env, private_redis)
    worker_process(queues="imports", concurrency=2, env=env, extra_args=TASKS)
    _kill_redis(private_redis)
    upload = tmp_path / "sales.csv"
    upload.write_text(sales_csv(20))

    # The command line upload: the same services as the admin upload, in its own process.
    command = subprocess.run(
        [sys.executable, "manage.py", "import_csv", "daily_sales", str(upload)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    job = ImportJob.objects.filter(dataset="daily_sales").first()
    assert job is not None, command.stdout[-2000:] + command.stderr[-3000:]
    assert command.returncode == 0, command.stderr[-3000:]
    assert command.stdout == (
        f"Import #{job.id} accepted (daily_sales, sales.csv); the broker is unreachable, "
        "it will start as soon as Redis answers.\n"
    )
    assert "Traceback" not in command.stderr
    assert job.status == ImportJob.Status.QUEUED
    assert job.dispatch_due_at is not None  # PostgreSQL holds the request
    time.sleep(3)  # the worker's relay ticks meanwhile, and finds Redis still down
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED

    start_redis(redis_dir=private_redis["dir"], port=private_redis["port"])
    answered = time.monotonic()
    delay = _started_after(job, answered, timeout=60)
    print(f"\nimport #{job.id} started {delay:.1f} s after Redis answered again")
    job = wait_for_finish(job.id, timeout=30)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.dispatch_due_at is None
    assert_import_truth(admin_client, job, rows=20)


def test_an_inbox_file_taken_while_redis_is_down_is_imported_when_redis_answers(
    worker_process, fault_env, private_redis, admin_client
):
    env = {**_on_private_redis(fault_env, private_redis), "IMPORT_INBOX_SETTLE_SECONDS": "0"}
    inbox = Path(fault_env["MEDIA_ROOT"]) / settings.IMPORT_INBOX_DIR
    inbox.mkdir(parents=True)
    (inbox / "daily_sales__monday.csv").write_text(sales_csv(20))
    _kill_redis(private_redis)

    scan = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from batches.services.inbox import inbox_scan; print(inbox_scan())"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    job = ImportJob.objects.filter(dataset="daily_sales").first()
    assert job is not None, scan.stdout[-2000:] + scan.stderr[-3000:]
    assert scan.stdout.strip().splitlines()[-1] == f"[{job.id}]"
    assert "Traceback" not in scan.stderr
    assert not any(inbox.iterdir())  # taken and archived: accepted
    assert job.status == ImportJob.Status.QUEUED

    start_redis(redis_dir=private_redis["dir"], port=private_redis["port"])
    answered = time.monotonic()
    worker_process(queues="imports", concurrency=2, env=env, extra_args=TASKS)
    delay = _started_after(job, answered, timeout=60)
    print(f"\nimport #{job.id} started {delay:.1f} s after Redis answered (worker start included)")
    job = wait_for_finish(job.id, timeout=30)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert_import_truth(admin_client, job, rows=20)


def _restart_redis_empty(private: dict) -> float:
    """Kill Redis and start it with nothing in it, as a restart of a Redis that keeps
    nothing on disk does; returns time.monotonic() when it answers again."""
    restart_redis_empty(redis_dir=Path(private["dir"]), port=private["port"])
    return time.monotonic()


def test_an_import_under_way_when_redis_loses_all_its_data_finishes_soon_after(
    worker_process, fault_env, private_redis, admin_client
):
    # IMPORT_STALL_SECONDS stays 300 s and no beat runs: the stall sweep cannot be what
    # drives this import to the end.
    env = _on_private_redis(fault_env, private_redis)
    worker = worker_process(queues="imports", concurrency=2, env=env, extra_args=TASKS)
    rows = 600  # 60 chunks; three slow ones keep both pool processes busy
    marker = redis.Redis.from_url(private_redis["url"])
    wait_for(lambda: marker.keys("ops:broker:marker:*"), timeout=20, message="the relay's marker")
    job = make_job(
        "fault_sales", sales_csv(rows, faults={15: SLOW_DAY, 215: SLOW_DAY, 415: SLOW_DAY})
    )
    # Accepted, its planner due: the worker's relay sends it (this process's own broker
    # is not the private Redis).
    ImportJob.objects.filter(id=job.id).update(
        status=ImportJob.Status.QUEUED, dispatch_due_at=timezone.now() - dt.timedelta(minutes=1)
    )
    wait_for(lambda: deliveries(SLOW_DAY) >= 2, timeout=60, message="two slow chunks running")
    assert ImportChunk.objects.filter(job=job, status=ImportChunk.Status.PENDING).exists()

    answered = _restart_redis_empty(private_redis)
    wait_for(
        lambda: worker.process.poll() is not None or worker.log().count("Connected to") >= 2,
        timeout=30,
        message="the worker to reconnect or exit",
    )
    if worker.process.poll() is not None:
        # Celery/kombu 5.7's "Unrecoverable error" on a Redis restart under late-ack
        # tasks (see the test above); a supervisor restarts it.
        worker_process(queues="imports", concurrency=2, env=env, extra_args=TASKS)

    job = wait_for_finish(job.id, timeout=120)
    took = time.monotonic() - answered
    print(f"\nimport #{job.id} ({rows} rows) finished {took:.1f} s after Redis answered, empty")
    assert job.status == ImportJob.Status.SUCCEEDED
    assert_import_truth(admin_client, job, rows=rows)
    logs = "".join(p.read_text(errors="replace") for p in LOG_DIR.glob("worker-*.log"))
    # Once at the worker's start (a new Redis has no marker), once for the loss.
    assert logs.count("Redis lost its data") >= 2
