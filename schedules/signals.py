"""Signals other apps listen to: ops sends a Sentry check-in for a refused run, and
opens (and resolves) an alert for a schedule paused on failure."""

from django.dispatch import Signal

# Sent whenever the overlap lock refuses a run, after its TaskRun is written: a run
# skipped when due (outcome "skipped"; it was never sent) or one that expired in the
# queue with its lock (outcome "expired"; it was sent but never runs).
# kwargs: task_name (str), periodic_task_id (int | None), celery_task_id (str | None:
# the refused run's id), reason (str), held_by (dict | None: the lock holder's
# celery_task_id, queued_at, trigger, queued_by), outcome (str).
periodic_run_skipped = Signal()

# Sent after commit when a schedule pauses itself after failed runs in a row.
# kwargs: periodic_task_id (int), periodic_task_name (str), failures (int), last_error (str).
periodic_task_paused_for_failures = Signal()

# Sent after commit when that pause ends: Resume, re-enabled in the admin, or deleted.
# kwargs: periodic_task_id (int), periodic_task_name (str).
periodic_task_failure_pause_cleared = Signal()
