"""Writes to schedules, one module per concern; callers import from the submodule.

- `default_schedules`: the periodic tasks apps declare in code (`<app>/periodic.py`)
- `audit`: every schedule write with its ScheduleChange (who or what, before, after)
- `actions`: pause, resume, run now, release a lock (the admin's actions)
- `overlap`: the overlap policy over a periodic run's life (send, start, retry, end)
- `failures`: pause on failure
- `runs`: the run history (`TaskRun`) from queued to its outcome
- `reaper`: runs whose worker or message was lost
- `retention`: pruning old history and audit rows

Nothing is re-exported here, so importing one concern never imports the others.
"""
