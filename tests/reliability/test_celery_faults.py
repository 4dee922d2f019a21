"""Fault injection at the Celery level: real worker processes, real Redis.

Platform-level scenarios (imports, reports, schedules) live beside this file; these
prove the transport guarantees they all rest on.
"""

import os
import pickle
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
import redis
from celery.exceptions import TimeLimitExceeded

from config.celery_app import app
from devstack.services import start_redis
from ops.tasks import ping
from tests.support.processes import subprocess_env, wait_for
from tests.support.tasks import overrun, sleep_then_count

pytestmark = [pytest.mark.fault, pytest.mark.slow]
TEST_TASKS = ["-I", "tests.support.tasks"]


class _WritesAFileWhenUnpickled:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_pickled_message_injected_into_a_queue_is_rejected_and_runs_no_code(
    worker_process, tmp_path
):
    worker = worker_process(queues="default", concurrency=1, extra_args=TEST_TASKS)
    marker = tmp_path / "pwned"
    body = pickle.dumps(((_WritesAFileWhenUnpickled(str(marker)),), {}, {}))
    with app.connection_for_write() as connection:
        connection.default_channel.basic_publish(
            connection.default_channel.prepare_message(
                body, content_type="application/x-python-serialize", content_encoding="binary",
                headers={"task": "tests.square", "id": str(uuid.uuid4()), "lang": "py"},
            ),
            exchange="default", routing_key="default",
        )  # fmt: skip
    wait_for(
        lambda: "disallowed" in worker.log().lower() or "refusing" in worker.log().lower(),
        timeout=20,
        message="the worker to refuse the pickled message",
    )
    assert not marker.exists()
    # The worker survives and keeps working.
    assert ping.apply_async(args=["still here"], queue="default").get(timeout=20) == "still here"


def test_sigterm_returns_reserved_and_scheduled_tasks_to_the_queue_and_they_complete_once(
    worker_process, redis_client
):
    key = f"done-{uuid.uuid4().hex}"
    first = worker_process(queues="default", concurrency=1, extra_args=TEST_TASKS)
    running = sleep_then_count.apply_async(args=[key, 3], queue="default")
    waiting = [sleep_then_count.apply_async(args=[key, 0.1], queue="default") for _ in range(3)]
    scheduled = sleep_then_count.apply_async(args=[key, 0.1], queue="default", countdown=4)
    wait_for(lambda: running.state == "STARTED", timeout=20, message="the first task to start")

    first.signal(signal.SIGTERM)  # a deploy: warm shutdown
    first.process.wait(timeout=30)
    finished_before_restart = redis_client.hlen(key)

    worker_process(queues="default", concurrency=1, extra_args=TEST_TASKS)
    every_task = [running, *waiting, scheduled]
    wait_for(lambda: redis_client.hlen(key) == len(every_task), timeout=60, message="every task")
    counts = {k.decode(): int(v) for k, v in redis_client.hgetall(key).items()}
    assert set(counts) == {result.id for result in every_task}
    assert set(counts.values()) == {1}, f"a task ran twice: {counts}"
    assert finished_before_restart < len(every_task)


def test_a_task_past_its_hard_time_limit_is_stopped_and_recorded_as_failed(worker_process):
    worker_process(queues="default", concurrency=1, extra_args=TEST_TASKS)
    result = overrun.apply_async(args=[30], queue="default")
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=30)
    assert result.state == "FAILURE"
    # The pool replaced the killed process and the worker goes on.
    assert ping.apply_async(args=["after"], queue="default").get(timeout=20) == "after"


def test_killing_a_pool_process_mid_task_redelivers_the_message_and_it_completes_once(
    worker_process, redis_client
):
    key = f"done-{uuid.uuid4().hex}"
    worker = worker_process(queues="default", concurrency=1, extra_args=TEST_TASKS)
    result = sleep_then_count.apply_async(args=[key, 4], queue="default")
    wait_for(lambda: result.state == "STARTED", timeout=20, message="the task to start")
    children = subprocess.run(
        ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
    ).stdout.split()
    assert children, "the prefork pool has no child process"
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)  # what the OOM killer does
    wait_for(lambda: redis_client.hlen(key) == 1, timeout=60, message="the redelivered task")
    assert int(redis_client.hget(key, result.id)) == 1


def test_worker_reconnects_by_itself_after_redis_is_killed_and_restarted(
    worker_process, private_redis
):
    env = subprocess_env(
        REDIS_URL=private_redis["url"], REDIS_TEST_DB="0", PYTEST_XDIST_WORKER="gw0"
    )
    worker = worker_process(queues="ops", concurrency=1, env=env)
    client = redis.Redis.from_url(private_redis["url"])
    os.kill(int((private_redis["dir"] / "redis.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: "Connection to broker lost" in worker.log() or "Error" in worker.log(),
             timeout=30, message="the worker to notice the lost broker")  # fmt: skip
    start_redis(redis_dir=private_redis["dir"], port=private_redis["port"])
    # Not the current app: shared tasks elsewhere in this process must keep using ours.
    private_app = app.__class__(
        "probe", broker=private_redis["url"], backend=private_redis["url"], set_as_current=False
    )
    private_app.conf.update(task_serializer="json", accept_content=["json"])
    try:
        result = private_app.send_task("ops.ping", args=["back"], queue="ops")
        assert result.get(timeout=60) == "back"
    finally:
        private_app.close()
    assert client.ping()
    assert worker.process.poll() is None
