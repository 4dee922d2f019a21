"""After the run: wait for the work to settle, then check every invariant."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from pathlib import Path

from tests.reliability.chaos.workload import Workload


def settle(timeout: float) -> float:
    """Wait until no import is unfinished and the inbox is empty; seconds waited."""
    from batches.models import ImportJob

    started = time.monotonic()
    inbox = Path(os.environ["MEDIA_ROOT"]) / "imports" / "inbox"
    while time.monotonic() - started < timeout:
        open_jobs = ImportJob.objects.filter(finished_at__isnull=True).exists()
        waiting = [p for p in inbox.rglob("*") if p.is_file()]
        if not open_jobs and not waiting:
            break
        time.sleep(1)
    return time.monotonic() - started


def check(workload: Workload, faults: list[dict], *, plant: str) -> dict:
    """Every invariant from the database and the inbox; each with its anomalies."""
    from batches.models import ImportChunk, ImportJob, InboxFile
    from catalogue.models import DailySales

    if plant == "delete-row":
        victim = DailySales.objects.filter(store_code__startswith="C").order_by("id").first()
        if victim:
            victim.delete()
    invariants: dict[str, list[str]] = {}
    rows = DailySales.objects.filter(store_code__startswith="C")
    found: dict[tuple[str, str], list[int]] = {}
    for store, sku, units in rows.values_list("store_code", "sku", "units"):
        found.setdefault((store, sku), []).append(units)
    table = invariants.setdefault("every file row in the table exactly once, with its values", [])
    for key, units in workload.expected.items():
        got = found.get(key, [])
        if len(got) != 1:
            table.append(f"{key}: {len(got)} rows")
        elif got[0] != units:
            table.append(f"{key}: units {got[0]}, the file says {units}")
    table += [f"{key}: not in any file" for key in found if key not in workload.expected]
    last_fault = max((f["at"] for f in faults), default=time.time())
    deadline = dt.datetime.fromtimestamp(last_fault + 60, tz=dt.UTC)
    final = invariants.setdefault("every job final within 60 s after the last fault", [])
    for job in ImportJob.objects.order_by("id"):
        if job.finished_at is None:
            final.append(f"import #{job.id} {job.status}, not finished")
        elif job.finished_at > deadline:
            late = (job.finished_at - deadline).total_seconds() + 60
            final.append(f"import #{job.id} finished {late:.0f} s after the last fault")
    outcome = invariants.setdefault("every import succeeded (the files are valid)", [])
    for job in ImportJob.objects.exclude(status=ImportJob.Status.SUCCEEDED):
        outcome.append(f"import #{job.id} {job.status}: {job.error[:200]}")
    accepted = invariants.setdefault("every file accepted: cli exit 0, inbox taken once", [])
    for op in workload.operations:
        if op["via"] == "cli" and (op.get("exit") != 0 or "job" not in op):
            accepted.append(f"{op['name']}: exit {op.get('exit')}: {op.get('said')}")
        if op["via"] == "inbox":
            taken = InboxFile.objects.filter(path__endswith=op["name"]).count()
            if taken != 1:
                accepted.append(f"{op['name']}: taken {taken} times")
    recoveries = []
    for fault in faults:
        moment = dt.datetime.fromtimestamp(fault["at"], tz=dt.UTC)
        busy = ImportJob.objects.filter(created_at__lt=moment).exclude(finished_at__lt=moment)
        if not busy.exists():
            continue
        after = ImportChunk.objects.filter(finished_at__gt=moment).order_by("finished_at").first()
        if after is not None:
            fault["recovery_seconds"] = round((after.finished_at - moment).total_seconds(), 1)
            recoveries.append(fault["recovery_seconds"])
    return {
        "invariants": {
            name: {"anomalies": len(found_), "first": found_[:5]}
            for name, found_ in invariants.items()
        },
        "recovery_seconds": {
            "p50": statistics.median(recoveries) if recoveries else None,
            "max": max(recoveries) if recoveries else None,
            "measured": len(recoveries),
        },
    }
