"""Signals other apps listen to (ops sends a Sentry check-in for a refused run)."""

from django.dispatch import Signal

# Sent whenever the overlap lock refuses a run, after the SKIPPED TaskRun is written.
# kwargs: task_name (str), periodic_task_id (int | None), celery_task_id (str | None:
# the id the refused run would have had; it was never sent), reason (str), and
# held_by (dict | None: the lock holder's celery_task_id, queued_at, trigger, queued_by).
periodic_run_skipped = Signal()
