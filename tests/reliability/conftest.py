"""Fixtures for the platform-level fault scenarios: small chunks, a fault dataset,
subprocess workers that share the test's media folder, and the end-of-scenario checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tests.reliability.faulty  # noqa: F401  (registers the fault_sales dataset)
from batches.models import ImportChunk, ImportJob
from catalogue.models import DailySales
from devstack.services import start_redis, stop_redis
from tests.support.network import free_port
from tests.support.processes import subprocess_env
from tests.support.smtp import running_smtp_server

FAULT_TASKS = ["-I", "tests.reliability.faulty"]
CHUNK_ROWS = 10


@pytest.fixture
def fault_env(tmp_path, settings, monkeypatch) -> dict[str, str]:
    """Environment for subprocess workers: this test's media and fault folders, 10-row chunks."""
    media = tmp_path / "media"
    faults = tmp_path / "faults"
    media.mkdir()
    faults.mkdir()
    settings.MEDIA_ROOT = str(media)
    settings.IMPORT_CHUNK_ROWS = CHUNK_ROWS
    monkeypatch.setenv("RELIABILITY_FAULT_DIR", str(faults))
    return subprocess_env(
        MEDIA_ROOT=str(media),
        IMPORT_CHUNK_ROWS=str(CHUNK_ROWS),
        RELIABILITY_FAULT_DIR=str(faults),
        RELIABILITY_SLOW_SECONDS="3",
    )


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, so killing it disturbs nothing else."""
    port = free_port()
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    start_redis(redis_dir=redis_dir, port=port)
    yield {"port": port, "dir": redis_dir, "url": f"redis://127.0.0.1:{port}/0"}
    stop_redis(redis_dir=redis_dir)


def redis_pid(private: dict) -> int:
    return int((Path(private["dir"]) / "redis.pid").read_text())


def assert_import_truth(client, job: ImportJob, *, rows: int, rejected: int = 0) -> None:
    """The checks every scenario ends with: each row in the table exactly once or
    reported rejected, nothing left running, and the admin page says what happened."""
    job.refresh_from_db()
    assert DailySales.objects.count() == rows
    assert job.rows_new + job.rows_updated + job.rows_unchanged == rows
    assert job.rows_rejected == rejected
    assert job.rows_total == rows + rejected
    assert not ImportJob.objects.filter(
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    ).exists()
    assert not ImportChunk.objects.filter(
        status__in=[ImportChunk.Status.PENDING, ImportChunk.Status.RUNNING]
    ).exists()
    page = client.get(f"/admin/batches/importjob/{job.id}/change/", follow=True)
    assert page.status_code == 200
    shown = re.search(r'<strong id="status">([^<]*)</strong>', page.content.decode())
    assert shown is not None
    assert shown.group(1) == job.get_status_display()
    assert f'<td id="rejected">{rejected:,}</td>' in page.content.decode()


@pytest.fixture
def smtp_server():
    """A real SMTP server on localhost for subprocess workers (see worker_settings.py)."""
    with running_smtp_server() as handler:
        yield handler
