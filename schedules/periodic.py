"""Schedules' own periodic tasks (see schedules/defaults.py for the fields)."""

from schedules import defaults

defaults.register(
    name="schedules: reap lost runs",
    task="schedules.reap_lost_runs",
    interval=60,
    catch_up="skip",
    description="Marks runs failed that are still queued or started past their hard "
    "time limit + SCHEDULES_LOCK_MARGIN_SECONDS (+ SCHEDULES_QUEUE_WAIT_SECONDS when "
    "queued): their worker was killed or their message lost.",
)
defaults.register(
    name="schedules: prune history",
    task="schedules.prune_history",
    crontab="47 3 * * *",
    description="Deletes task runs older than SCHEDULES_HISTORY_DAYS and schedule "
    "changes older than SCHEDULES_AUDIT_DAYS.",
)
