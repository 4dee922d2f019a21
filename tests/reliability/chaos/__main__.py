"""Entry point: `python -m tests.reliability.chaos` (what `make chaos` runs)."""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from tests.reliability.chaos import __doc__ as usage
from tests.reliability.chaos.checker import check, settle
from tests.reliability.chaos.common import KINDS, ROOT, RUN_DIR, log
from tests.reliability.chaos.faults import Faults
from tests.reliability.chaos.stack import Stack, prepare_environment
from tests.reliability.chaos.workload import Workload


def main() -> int:
    parser = argparse.ArgumentParser(description=(usage or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=",".join(KINDS))
    parser.add_argument("--plant", choices=["", "delete-row"], default="")
    parser.add_argument("--settle", type=float, default=180)
    args = parser.parse_args()
    kinds = [k for k in args.faults.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    sys.path.insert(0, str(ROOT))
    from devstack.services import _free_port

    RUN_DIR.mkdir(parents=True, exist_ok=True)
    redis_port = _free_port()
    env = prepare_environment(redis_port)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    subprocess.run([sys.executable, "manage.py", "sync_default_schedules"], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    import django

    django.setup()
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every5, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
    PeriodicTask.objects.filter(task="batches.scan_inbox").update(interval=every5)

    rng = random.Random(args.seed)
    stack = Stack(env, redis_port)
    started = time.monotonic()
    until = started + args.minutes * 60
    report: dict = {"seed": args.seed, "minutes": args.minutes, "kinds": kinds}
    try:
        stack.start()
        log(f"stack up: Redis on {redis_port}, 2 workers, 2 beats; seed {args.seed}")
        workload = Workload(env, random.Random(args.seed + 1), until)
        faults = Faults(stack, rng, kinds, until)
        workload.start()
        faults.start()
        while time.monotonic() < until or workload.is_alive():
            stack.supervise()
            time.sleep(1)
        faults.join()
        faults.wait_pending()
        log("faults and workload stopped; settling")
        report["settled_seconds"] = round(settle(args.settle), 1)
        stack.supervise()
        report.update(check(workload, faults.injected, plant=args.plant))
        report["faults"] = faults.injected
        report["operations"] = {
            "cli": sum(op["via"] == "cli" for op in workload.operations),
            "inbox": sum(op["via"] == "inbox" for op in workload.operations),
            "rows expected": len(workload.expected),
        }
        report["events"] = stack.events
    finally:
        stack.stop()
    anomalies = sum(item["anomalies"] for item in report.get("invariants", {}).values())
    report["anomalies"] = anomalies
    path = RUN_DIR / f"report-seed{args.seed}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print_report(report, path)
    return 1 if anomalies or "invariants" not in report else 0


def print_report(report: dict, path: Path) -> None:
    print(f"\nchaos run: seed {report['seed']}, {report['minutes']:g} min, settled in "
          f"{report.get('settled_seconds')} s")  # fmt: skip
    by_kind: dict[str, int] = {}
    for fault in report.get("faults", []):
        by_kind[fault["kind"]] = by_kind.get(fault["kind"], 0) + 1
        stamp = time.strftime("%H:%M:%S", time.localtime(fault["at"]))
        print(f"  fault {stamp} {fault['kind']:<13} {fault['target']}"
              f"  recovery {fault.get('recovery_seconds', '-')} s")  # fmt: skip
    print(f"faults by kind: {by_kind}; operations: {report.get('operations')}")
    for name, item in report.get("invariants", {}).items():
        print(f"  {item['anomalies']:>4} anomalies  {name}")
        for example in item["first"]:
            print(f"             {example}")
    print(f"recovery: {report.get('recovery_seconds')}")
    print(f"{report['anomalies']} anomalies; report written to {path}")


if __name__ == "__main__":
    sys.exit(main())
