"""Entry point: `python -m tests.reliability.chaos` (what `make chaos` runs)."""

from __future__ import annotations

import argparse
import io
import json
import random
import signal
import sys
import time
from pathlib import Path

from tests.reliability.chaos import __doc__ as usage
from tests.reliability.chaos.common import KINDS, ROOT, RUN_DIR, db_retry, log

# Faults stop this long before the end, so that what they held down is back by then.
QUIET_TAIL = 35.0


def main() -> int:
    parser = argparse.ArgumentParser(description=(usage or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=",".join(KINDS))
    parser.add_argument("--plant", choices=["", "delete-row", "duplicate-email"], default="")
    parser.add_argument("--settle", type=float, default=180)
    args = parser.parse_args()
    kinds = [k for k in args.faults.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    sys.path.insert(0, str(ROOT))
    from devstack.services import _free_port
    from tests.reliability.chaos.stack import (
        Stack,
        postgres_start,
        postgres_stop,
        prepare_environment,
    )

    # SIGTERM (the test giving up on a slow run, a Ctrl-C from make) ends the run through
    # `finally` below, so the stack's processes and PostgreSQL are stopped, not orphaned.
    signal.signal(signal.SIGTERM, _stopped)
    began = time.monotonic()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    ports = {name: _free_port() for name in ("redis", "smtp", "web")}
    postgres = postgres_start()
    report: dict = {"seed": args.seed, "minutes": args.minutes, "kinds": kinds}
    stack = None
    try:
        env = prepare_environment(redis_port=ports["redis"], smtp_port=ports["smtp"],
                                  server=postgres)  # fmt: skip
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, skip_checks=True)
        call_command("sync_default_schedules", stdout=io.StringIO())
        stack = Stack(env, redis_port=ports["redis"], smtp_port=ports["smtp"],
                      web_port=ports["web"], postgres=postgres)  # fmt: skip
        report.update(run(args, kinds, env, stack))
    finally:
        if stack is not None:
            stack.stop()
        postgres_stop(postgres)
    anomalies = sum(item["anomalies"] for item in report.get("invariants", {}).values())
    report["anomalies"] = anomalies
    report["wall_seconds"] = round(time.monotonic() - began, 1)  # start to stop, all of it
    path = RUN_DIR / f"report-seed{args.seed}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print_report(report, path)
    return 1 if anomalies or "invariants" not in report else 0


def _stopped(signum, frame) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def run(args, kinds: list[str], env: dict[str, str], stack) -> dict:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from tests.reliability.chaos import reports, team_tasks
    from tests.reliability.chaos.checker import (
        GreenWatch,
        check_imports,
        inbox_scans_not_succeeded,
        recovery_times,
        settle,
        staff_create,
    )
    from tests.reliability.chaos.faults import Faults
    from tests.reliability.chaos.workload import Workload

    every5, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
    PeriodicTask.objects.filter(task="batches.scan_inbox").update(interval=every5)
    staff_create()
    schedule_ids = team_tasks.schedules_create()
    started_at = time.time()
    due = reports.due_times(started_at, args.minutes)
    definitions = reports.definitions_create(due)
    started = time.monotonic()
    until = started + args.minutes * 60
    stack.start()
    log(f"stack up: PostgreSQL {stack.postgres.pgdata}, Redis :{stack.redis_port}, web "
        f":{stack.web_port}, SMTP sink :{stack.smtp.controller.port}, 2 workers, 2 beats; "
        f"seed {args.seed}; reports due at "
        + ", ".join(time.strftime("%H:%M", time.gmtime(d)) for d in due))  # fmt: skip
    workload = Workload(env, random.Random(args.seed + 1), until)
    faults = Faults(stack, random.Random(args.seed), kinds, until - QUIET_TAIL,
                    outages_at=due[::2], on_redis_down=lambda: workload.step(via="cli"))  # fmt: skip
    faults.start()
    workload.prepare()
    workload.start()
    max_waiting = 0
    while time.monotonic() < until or workload.is_alive():
        stack.supervise()
        max_waiting = max(max_waiting, db_retry(lambda: team_tasks.waiting_now(schedule_ids)))
        time.sleep(1)
    run_end = time.time()
    faults.join()
    faults.wait_pending()
    green = GreenWatch(stack.web_port, seconds=max(90.0, faults.last_fault_over + 90 - time.time()))
    green.start()
    log("faults and workload stopped; settling")
    settled = settle(
        args.settle, reports_open=lambda: reports.sends_open(definitions, until=run_end)
    )
    report: dict = {"settled_seconds": round(settled, 1)}
    stack.supervise()
    messages = stack.smtp.messages()
    report_checks, notes = reports.check_reports(definitions, messages, faults.injected,
                                                 until=run_end)  # fmt: skip
    green.join()
    planted = ""
    if args.plant == "delete-row":
        from catalogue.models import DailySales

        victim = DailySales.objects.filter(store_code__startswith="C").order_by("id").first()
        if victim:
            victim.delete()
            planted = f"deleted daily_sales row {victim.store_code} {victim.sku}"
    elif args.plant == "duplicate-email":
        planted = reports.duplicate_email_plant()
        messages = stack.smtp.messages()
        report_checks, notes = reports.check_reports(definitions, messages, faults.injected,
                                                     until=run_end)  # fmt: skip
    invariants = check_imports(workload, last_fault_over=faults.last_fault_over)
    invariants.update(report_checks)
    invariants.update(team_tasks.check_team_tasks(
        schedule_ids, faults.injected, max_waiting=max_waiting, since=started_at + 20,
        until=run_end))  # fmt: skip
    invariants["within 60 s after the last fault: no alert open, the dashboard green"] = (
        green.verdict(by=faults.last_fault_over + 60, excused_alerts=_window_alerts(notes))
    )
    report.update(
        plant=planted,
        notes=notes,
        dashboard=green.seen,
        invariants={
            name: {"anomalies": len(found), "first": found[:5]}
            for name, found in invariants.items()
        },
        recovery_seconds=recovery_times(faults.injected),
        faults=faults.injected,
        operations={
            "imports via cli": sum(op["via"] == "cli" for op in workload.operations),
            "imports via inbox": sum(op["via"] == "inbox" for op in workload.operations),
            "rows expected": {k: len(v) for k, v in workload.expected.items()},
            "report sends due": sum(d["due"] <= run_end for d in definitions),
            "emails at the SMTP sink": len(messages),
            "team runs": team_tasks.runs_summary(schedule_ids),
        },
        events=stack.events,
        last_fault_over=faults.last_fault_over,
    )
    accepted = invariants["every file accepted: cli exit 0 with a job, inbox file taken once"]
    if any("taken 0 times" in line for line in accepted):
        report["inbox_scans"] = inbox_scans_not_succeeded()
    return report


def _window_alerts(notes: list[str]) -> set[str]:
    """The alerts a send unknown in the documented window leaves open: an operator's job."""
    from reporting.models import ReportRun
    from reporting.monitoring import KIND_SEND_UNKNOWN, run_alert_subject

    alerts = set()
    for note in notes:
        number = note.split("run #", 1)[1].split(" ", 1)[0]
        run = ReportRun.objects.select_related("definition").get(pk=int(number))
        alerts.add(f"{KIND_SEND_UNKNOWN}: {run_alert_subject(run)}")
    return alerts


def print_report(report: dict, path: Path) -> None:
    print(f"\nchaos run: seed {report['seed']}, {report['minutes']:g} min, settled in "
          f"{report.get('settled_seconds')} s")  # fmt: skip
    by_kind: dict[str, int] = {}
    for fault in report.get("faults", []):
        by_kind[fault["kind"]] = by_kind.get(fault["kind"], 0) + 1
        stamp = time.strftime("%H:%M:%S", time.gmtime(fault["at"]))
        print(f"  fault {stamp} {fault['kind']:<16} {fault['target']}"
              f"  recovery {fault.get('recovery_seconds', '-')} s")  # fmt: skip
    print(f"faults by kind: {by_kind}")
    print(f"operations: {json.dumps(report.get('operations'))}")
    if report.get("plant"):
        print(f"planted: {report['plant']}")
    for note in report.get("notes", []):
        print(f"  note: {note}")
    print(f"dashboard at the end: {report.get('dashboard')}")
    for name, item in report.get("invariants", {}).items():
        print(f"  {item['anomalies']:>4} anomalies  {name}")
        for example in item["first"]:
            print(f"             {example}")
    for scan in report.get("inbox_scans", []):
        print(f"  inbox scan not succeeded: {scan}")
    print(f"recovery (fault -> work moving again): {report.get('recovery_seconds')}")
    print(f"{report.get('anomalies')} anomalies in {report.get('wall_seconds')} s from start to "
          f"stop; report written to {path}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
