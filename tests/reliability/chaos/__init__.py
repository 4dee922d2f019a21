"""`make chaos`: seeded random faults while real work runs, then a checker over the history.

    make chaos CHAOS_ARGS="--minutes 10 --seed 11"
    .venv/bin/python -m tests.reliability.chaos --minutes 2 --seed 1 \\
        [--faults worker_child,worker_node,worker_stop,beat,redis_empty,postgres_restart]
        [--plant delete-row|duplicate-email]

Starts, on loopback only (docs/reliability.md, "A chaos run"): its own PostgreSQL
(embedded, on a Unix socket, so it can restart it) and Redis, the web process
(runserver, as `make run`), two worker nodes, two beats and an SMTP sink (aiosmtpd,
writing every message it accepts to a file). Modules:

- `stack.py`: the processes, restarted when they exit by themselves (a supervisor's job);
- `smtp_sink.py`: the SMTP sink;
- `workload.py`: imports through `import_csv` and the inbox, in `daily_sales` (fast
  path) and the team app's `team_stations` and `team_readings` (compatible path);
- `team_tasks.py`: the team's `team.timed_step` every second under *skip* and *queue
  one*, and the checks over the team's own records of each run (tests/team/);
- `reports.py`: report definitions due at different minutes, and the SMTP-sink check;
- `faults.py`: the seeded faults, and Redis down over report due times;
- `checker.py`: settling, the import checks, the dashboard through the web, recovery.

Exit status 1 on any anomaly; the report is printed and written as JSON to
var/chaos/report-seed<N>.json.
"""
