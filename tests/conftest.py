"""Shared fixtures: real PostgreSQL and Redis (embedded or from the environment), and
real Celery workers and beat.

- `celery_worker`: an in-process worker thread pool on every queue, against the real
  broker. Tests using it see the worker's writes only with transactional_db.
- `worker_process` / `beat_process`: factories for real subprocesses, for tests that
  kill, stop or restart them. Every process started is stopped at teardown.
"""

from __future__ import annotations

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

import tests.support.tasks  # noqa: F401  (registers the test-only tasks)
from tests.support.processes import BeatProcess, WorkerProcess

# The longest files first: xdist (`--dist loadfile`) hands out files in collection
# order, so a long file collected last would run alone at the end while the other
# workers idle. Its weight is its heaviest test's marker; the order within a weight
# stays the collection order, so every xdist worker collects the same sequence.
_FILE_WEIGHT_BY_MARKER = {"chaos": 4, "browser": 3, "fault": 2, "slow": 1}


def pytest_collection_modifyitems(session, config, items):
    weight: dict[str, int] = {}
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        heaviest = max((_FILE_WEIGHT_BY_MARKER.get(name, 0) for name in marks), default=0)
        path = item.nodeid.split("::")[0]
        weight[path] = max(weight.get(path, 0), heaviest)
    items.sort(key=lambda item: -weight[item.nodeid.split("::")[0]])


@pytest.fixture(autouse=True)
def _platform_celery_app_stays_current():
    """A Celery() built inside a test becomes the current app unless told otherwise, and
    every shared_task called afterwards would go to its broker; restore ours."""
    from config.celery_app import app

    yield
    app.set_current()
    app.set_default()


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _empty_keeping_kombu_bindings(client: redis.Redis) -> None:
    # Not FLUSHDB: kombu keeps its exchange -> queue bindings in `_kombu.binding.*` and
    # declares them once per process, so wiping them makes later publishes to those
    # exchanges vanish without an error.
    keys = [key for key in client.scan_iter(count=1000) if not key.startswith(b"_kombu.binding")]
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


@pytest.fixture
def clean_redis(redis_client):
    """Start from an empty test Redis database: no queued messages, locks or results."""
    _empty_keeping_kombu_bindings(redis_client)
    yield redis_client
    _empty_keeping_kombu_bindings(redis_client)


@pytest.fixture
def celery_app():
    from config.celery_app import app

    return app


@pytest.fixture
def celery_worker(transactional_db, clean_redis, celery_app):
    with start_worker(
        celery_app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        queues=list(settings.PLATFORM_QUEUES),
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture
def worker_process(transactional_db, clean_redis):
    started: list[WorkerProcess] = []

    def start(**kwargs) -> WorkerProcess:
        worker = WorkerProcess(**kwargs)
        started.append(worker)
        return worker.start().wait_ready()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def beat_process(transactional_db, clean_redis):
    started: list[BeatProcess] = []

    def start(**kwargs) -> BeatProcess:
        beat = BeatProcess(**kwargs)
        started.append(beat)
        return beat.start()

    yield start
    for beat in started:
        beat.stop()
