"""Writes to schedules, one module per concern; callers import from the submodule.

- `default_schedules`: the periodic tasks apps declare in code (`<app>/periodic.py`)
- `audit`: every schedule write with its ScheduleChange (who or what, before, after)
- `actions`: pause, resume, run now, release a lock (the admin's actions)
- `enqueue`: sending a periodic run through its overlap lock
- `runs`: the run history (`TaskRun`) from queued to its outcome
- `reaper`: runs whose worker or message was lost
- `retention`: pruning old history and audit rows

Nothing is re-exported here, so importing one concern never imports the others.
"""
