"""After the run: wait for the work to settle, then check every invariant from the
database, the inbox, the SMTP sink and the team's own records."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import os
import re
import statistics
import threading
import time
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path

from tests.reliability.chaos.common import db_retry
from tests.reliability.chaos.workload import Workload

STAFF = ("chaos-staff", "chaos-staff-password")


def _at(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)


def staff_create() -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(STAFF[0], "staff@example.com", STAFF[1])


def settle(timeout: float, *, reports_open) -> float:
    """Wait until no import is unfinished, the inbox is empty and every report send that
    fell due is finished (`reports_open()` is 0); seconds waited."""
    from batches.models import ImportJob

    started = time.monotonic()
    inbox = Path(os.environ["MEDIA_ROOT"]) / "imports" / "inbox"
    while time.monotonic() - started < timeout:
        open_jobs = db_retry(ImportJob.objects.filter(finished_at__isnull=True).exists)
        waiting = [p for p in inbox.rglob("*") if p.is_file()]
        if not open_jobs and not waiting and not db_retry(reports_open):
            break
        time.sleep(1)
    return time.monotonic() - started


def dashboard_state(port: int) -> tuple[str, list[str]]:
    """The overall state on the admin home, read through the web as staff: (state, why)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    opener.open(f"{base}/admin/login/", timeout=10).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode({"username": STAFF[0], "password": STAFF[1],
                                   "csrfmiddlewaretoken": token, "next": "/admin/"})  # fmt: skip
    request = urllib.request.Request(f"{base}/admin/login/?next=/admin/", data=form.encode(),
                                     headers={"Referer": f"{base}/admin/login/"})  # fmt: skip
    page = opener.open(request, timeout=30).read().decode()
    state = re.search(r'class="ops-state ops-(\w+)"', page)
    reasons = re.findall(r"<li>([^<]*)</li>", page.split('class="ops-reasons"', 1)[-1])
    if state is None:
        return "unreadable", [page[:200]]
    return state.group(1), reasons if 'class="ops-reasons"' in page else []


class GreenWatch(threading.Thread):
    """From the end of the faults on, reads the dashboard through the web and the open
    alerts every 2 s, until the overall state is green with no alert open other than a
    report send's `report_send_unknown` (excused later only if the send was cut in the
    documented window), or `seconds` pass; `seen` is the last reading."""

    def __init__(self, port: int, *, seconds: float) -> None:
        super().__init__(name="chaos-green", daemon=True)
        self.port, self.deadline = port, time.time() + seconds
        self.seen: dict = {}

    def run(self) -> None:
        from ops.models import Alert

        while True:
            try:
                state, reasons = dashboard_state(self.port)
            except OSError as error:
                state, reasons = "unreachable", [str(error)]
            alerts = [f"{a.kind}: {a.subject}" for a in
                      db_retry(lambda: list(Alert.objects.filter(status=Alert.Status.OPEN)))]  # fmt: skip
            self.seen = {"at": time.time(), "state": state, "reasons": reasons,
                         "open alerts": alerts}  # fmt: skip
            unknown_only = all(a.startswith("report_send_unknown: ") for a in alerts)
            alerts_only = all(r.endswith(("open alert", "open alerts")) for r in reasons)
            if unknown_only and (state == "green" or (alerts and alerts_only)):
                return
            if time.time() > self.deadline:
                return
            time.sleep(2)

    def verdict(self, *, by: float, excused_alerts: set[str]) -> list[str]:
        seen = self.seen
        late = not seen or seen["at"] > by
        unexcused = [a for a in seen.get("open alerts", []) if a not in excused_alerts]
        if late or unexcused:
            stamp = time.strftime("%H:%M:%S", time.gmtime(seen.get("at", 0)))
            return [f"at {stamp} ({seen.get('at', 0) - by + 60:.0f} s after the last fault was "
                    f"over): {seen.get('state')}; {seen.get('reasons')}; open: {unexcused}"]  # fmt: skip
        return []


def check_imports(workload: Workload, *, last_fault_over: float) -> dict[str, list[str]]:
    from batches.models import ImportJob, InboxFile
    from catalogue.models import DailySales
    from tests.team.models import Reading, Station

    found: dict[str, dict[tuple, list]] = {"daily_sales": {}, "team_stations": {},
                                           "team_readings": {}}  # fmt: skip
    for store, sku, units in DailySales.objects.filter(store_code__startswith="C").values_list(
        "store_code", "sku", "units"
    ):
        found["daily_sales"].setdefault((store, sku), []).append(units)
    for code, name in Station.objects.values_list("code", "name"):
        found["team_stations"].setdefault((code,), []).append(name)
    for code, day, temp_max, rain in Reading.objects.values_list(
        "station__code", "day", "temp_max", "precipitation"
    ):
        value = (str(temp_max), str(rain.quantize(Decimal("0.0"))) if rain is not None else None)
        found["team_readings"].setdefault((code, day.isoformat()), []).append(value)
    table: list[str] = []
    for dataset, expected in workload.expected.items():
        for key, value in expected.items():
            got = found[dataset].get(key, [])
            if len(got) != 1:
                table.append(f"{dataset} {key}: {len(got)} rows")
            elif got[0] != value:
                table.append(f"{dataset} {key}: {got[0]}, the file says {value}")
        table += [f"{dataset} {key}: in no file" for key in found[dataset] if key not in expected]
    final: list[str] = []
    deadline = _at(last_fault_over + 60)
    for job in ImportJob.objects.order_by("id"):
        if job.finished_at is None:
            final.append(f"import #{job.id} {job.status}, not finished")
        elif job.finished_at > deadline:
            late = (job.finished_at - deadline).total_seconds() + 60
            final.append(f"import #{job.id} finished {late:.0f} s after the last fault was over")
    outcome = [f"import #{job.id} {job.status}: {job.error[:200]}"
               for job in ImportJob.objects.exclude(status=ImportJob.Status.SUCCEEDED)]  # fmt: skip
    accepted: list[str] = []
    for op in workload.operations:
        if op["via"] == "cli" and (op.get("exit") != 0 or "job" not in op):
            accepted.append(f"{op['name']}: exit {op.get('exit')}: {op.get('said')}")
        if op["via"] == "inbox":
            taken = InboxFile.objects.filter(path__endswith=op["name"]).count()
            if taken != 1:
                dropped = time.strftime("%H:%M:%S", time.gmtime(op["at"]))
                accepted.append(f"{op['name']}: taken {taken} times (dropped at {dropped})")
    return {
        "every file row in its table exactly once, with the file's values": table,
        "every import final within 60 s after the last fault was over": final,
        "every import succeeded (the files are valid)": outcome,
        "every file accepted: cli exit 0 with a job, inbox file taken once": accepted,
    }


def inbox_scans_not_succeeded() -> list[str]:
    """The inbox scans' runs that did not succeed, for a file never taken: what kept
    the scan from taking it."""
    from schedules.models import TaskRun

    runs = TaskRun.objects.filter(task_name="batches.scan_inbox").order_by("queued_at")
    return [
        f"{run.queued_at:%H:%M:%S} {run.status} started "
        f"{run.started_at and f'{run.started_at:%H:%M:%S}'} on {run.worker or '-'}: "
        f"{run.error[:160]}"
        for run in runs
        if run.status != TaskRun.Status.SUCCEEDED
    ]


def recovery_times(faults: list[dict]) -> dict:
    """Per fault, seconds from the fault to work moving again: the first team run that
    started (beat, Redis, a worker and PostgreSQL all working) or import chunk that
    finished after it; for Redis and PostgreSQL, after the server was back (nothing
    moves while it is down). A worker or beat fault leaves the other node working."""
    from batches.models import ImportChunk
    from tests.team.models import TimedRun

    recoveries = []
    for fault in faults:
        servers = fault["kind"] in ("redis_empty", "postgres_restart")
        back = _at(fault.get("back_at", fault["at"]) if servers else fault["at"])
        moments = [
            TimedRun.objects.filter(started_at__gt=back).order_by("started_at")
            .values_list("started_at", flat=True).first(),
            ImportChunk.objects.filter(started_at__gt=back, finished_at__isnull=False)
            .order_by("finished_at").values_list("finished_at", flat=True).first(),
        ]  # fmt: skip
        moving = min((m for m in moments if m is not None), default=None)
        if moving is not None:
            fault["recovery_seconds"] = round(moving.timestamp() - fault["at"], 1)
            recoveries.append(fault["recovery_seconds"])
    return {
        "p50": statistics.median(recoveries) if recoveries else None,
        "max": max(recoveries) if recoveries else None,
        "measured": len(recoveries),
    }
