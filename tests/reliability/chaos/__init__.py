"""`make chaos`: seeded random faults while real imports run, then a checker over the history.

    make chaos CHAOS_ARGS="--minutes 10 --seed 7"
    .venv/bin/python -m tests.reliability.chaos --minutes 2 --seed 1 \\
        [--faults worker_child,worker_node,worker_stop,beat,redis_empty] [--plant delete-row]

Starts, on loopback only: a Redis of its own (so it can restart it empty), a database
of its own (`chaos`, dropped and migrated at the start) on the embedded PostgreSQL,
two worker nodes and two beats with the platform's default schedules (the inbox
scanned every 5 s). A workload thread imports real files through `import_csv` (new
rows, and updates of rows whose import has finished) and through the inbox (written in
pieces, as a slow sender does); a fault thread injects seeded faults, at least one
every 30 s, every kind in turn; a supervisor restarts a worker or beat that exits by
itself, as `restart: unless-stopped` does. Then faults and workload stop, the work
settles, and the checker reads the database and the inbox (never the platform's own
summary alone) and prints a report, also written as JSON under var/chaos/. Exit
status 1 on any anomaly. `--plant delete-row` deletes one imported row behind the
platform's back before the check, to show that the checker catches it.

Not yet here (issue 22): the web process, the SMTP sink and report sends, team tasks
with overlap policies, the compatible-path and team datasets, a PostgreSQL restart,
the alerts and dashboard checks.
"""
