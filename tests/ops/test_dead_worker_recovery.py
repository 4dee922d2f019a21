"""A whole worker SIGKILLed mid-import, a new worker started: the chunks the dead worker
held are sent again by the dead-worker path, not the stall sweep, and every row is
imported once. (The time this takes is measured by benchmarks/ops_recovery.py.)"""

from __future__ import annotations

import pytest

from batches.models import ImportJob
from batches.services.uploads import job_queue
from ops import recovery
from tests.reliability import conftest as reliability
from tests.reliability.conftest import FAULT_TASKS, assert_import_truth
from tests.reliability.faulty import SLOW_DAY, deliveries, sales_csv
from tests.support.imports import make_job, wait_for_finish
from tests.support.processes import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow]

fault_env = reliability.fault_env  # the fault scenarios' worker environment, reused


def test_a_killed_workers_chunks_are_sent_again_by_the_dead_worker_path_and_each_row_lands_once(
    worker_process, fault_env, admin_client, settings
):
    settings.IMPORT_STALL_SECONDS = 3600  # the stall sweep could not act within the test
    env = {
        **fault_env,
        "OPS_WORKER_ALIVE_INTERVAL": "1",
        "OPS_WORKER_DEAD_AFTER": "4",
        "OPS_RECOVERY_INTERVAL": "1",
        "IMPORT_STALL_SECONDS": "3600",
        "RELIABILITY_SLOW_SECONDS": "5",
    }
    first = worker_process(queues="imports", concurrency=2, env=env, extra_args=FAULT_TASKS)
    # 6 chunks of 10 rows; chunk 1 sleeps on row 15, so the kill lands while it runs.
    job = make_job("fault_sales", sales_csv(60, faults={15: SLOW_DAY}))
    job_queue(job_id=job.id)
    wait_for(lambda: deliveries(SLOW_DAY) == 1, timeout=60, message="chunk 1 to reach its slow row")

    first.kill()  # the whole worker: main process and pool, no goodbye
    worker_process(queues="imports", concurrency=2, env=env, extra_args=FAULT_TASKS)

    job = wait_for_finish(job.id, timeout=120)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert deliveries(SLOW_DAY) == 2, "the chunk the dead worker ran was sent again, once"
    [report] = [r for r in recovery.recoveries_recent() if r["hostname"] == first.hostname]
    resent = {item["task"] for item in report["resent"]}
    assert "batches.import_chunk" in resent, report
    assert_import_truth(admin_client, job, rows=60)
