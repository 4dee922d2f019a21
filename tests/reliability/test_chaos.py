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


def test_a_seeded_two_minute_chaos_run_with_every_fault_kind_has_no_anomaly():
    report_path = RUN_DIR / "report-seed1.json"
    report_path.unlink(missing_ok=True)

    run = subprocess.run(
        [sys.executable, "-m", "tests.reliability.chaos", "--minutes", "2", "--seed", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    report = json.loads(report_path.read_text())
    assert {fault["kind"] for fault in report["faults"]} == set(KINDS), run.stdout[-3000:]
    assert report["anomalies"] == 0, run.stdout[-4000:]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
