"""A seeded two-minute chaos run (`make chaos`) with every fault kind: no anomaly.

Long (about two and a half minutes) and heavy (its own PostgreSQL and Redis, web, two
workers, two beats, an SMTP sink): deselect it locally with `-m "not chaos"`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.reliability.chaos.common import KINDS, ROOT, RUN_DIR

pytestmark = [pytest.mark.slow, pytest.mark.fault, pytest.mark.chaos]


# About 130-150 s alone or in the suite; a run far slower than that is stopped (SIGTERM:
# it stops its stack) and fails with its output, before pytest's own time-out (which
# would kill this process and orphan the stack's).
RUN_SECONDS = 480


@pytest.mark.timeout(RUN_SECONDS + 120)
def test_a_seeded_two_minute_chaos_run_with_every_fault_kind_has_no_anomaly():
    report_path = RUN_DIR / "report-seed1.json"
    report_path.unlink(missing_ok=True)

    process = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.chaos", "--minutes", "2", "--seed", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        process.terminate()
        stdout, stderr = process.communicate(timeout=90)
        pytest.fail(f"the chaos run took over {RUN_SECONDS} s:\n{stdout[-4000:]}{stderr[-3000:]}")
    run = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    report = json.loads(report_path.read_text())
    assert {fault["kind"] for fault in report["faults"]} == set(KINDS), run.stdout[-3000:]
    assert report["anomalies"] == 0, run.stdout[-4000:]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
