"""Run history, per-task schedule options and the audit trail of admin schedule edits."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_celery_beat.models import PeriodicTask


class TaskRun(models.Model):
    """One run of a periodic task, from being queued (or refused) to its outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        STARTED = "started", "started"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        RETRIED = "retried", "retried"
        SKIPPED = "skipped", "skipped (previous run still holds the lock)"
        MISSED = "missed", "missed (beat was down; catch-up policy skip)"
        WAITING = "waiting", "waiting (behind the running one; overlap policy queue one)"
        EXPIRED = "expired", "expired in queue (its overlap lock expired before it started)"

    class Trigger(models.TextChoices):
        BEAT = "beat", "beat"
        MANUAL = "manual", "manual"

    periodic_task = models.ForeignKey(
        PeriodicTask,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    task_name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.BEAT)
    # Who asked for a manual run (username); empty for beat.
    queued_by = models.CharField(max_length=150, blank=True, default="")
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="")
    celery_task_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    error = models.TextField(blank=True, default="")
    # Hard time limit in seconds this run was sent or started with (a per-call limit wins
    # over the task's); the reaper uses it to tell a lost run from a long one.
    time_limit = models.PositiveIntegerField(null=True, blank=True)
    # When schedules.reap_lost_runs marked the run failed as lost; kept if a late
    # outcome or a redelivery brings it back.
    reaped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-queued_at"], name="sched_run_status_idx"),
            models.Index(fields=["task_name", "-queued_at"], name="sched_run_task_idx"),
            models.Index(fields=["periodic_task", "-queued_at"], name="sched_run_pt_queued_idx"),
            models.Index(fields=["-queued_at", "-id"], name="sched_run_queued_idx"),
            # The reaper's scan of open runs: only queued/started rows are indexed.
            models.Index(
                fields=["status", "started_at"],
                name="sched_run_open_idx",
                condition=Q(status__in=["queued", "started"]),
            ),
        ]
        constraints = [
            # A Celery task id names one run; refused and missed runs have none.
            models.UniqueConstraint(
                fields=["celery_task_id"],
                condition=~Q(celery_task_id=""),
                name="sched_run_unique_celery_task_id",
            ),
        ]
        permissions = [
            ("run_periodic_task", "Can run a periodic task now"),
            ("release_periodic_lock", "Can see and release a periodic task's overlap lock"),
        ]

    def __str__(self) -> str:
        when = f"{self.queued_at:%Y-%m-%d %H:%M:%S}" if self.queued_at else "not queued"
        return f"{self.task_name} {self.status} {when}"


class ScheduleOptions(models.Model):
    """What django-celery-beat's PeriodicTask has no field for. A periodic task without
    a row has the defaults (catch-up run once, overlap skip, never paused)."""

    class CatchUp(models.TextChoices):
        RUN_ONCE = "run_once", "run once after downtime"
        SKIP = "skip", "skip due times missed during downtime"

    class Overlap(models.TextChoices):
        SKIP = "skip", "skip (no run while one runs or waits)"
        QUEUE_ONE = "queue_one", "queue one (one waits behind the running one)"
        ALLOW = "allow", "allow (runs may overlap: no lock)"

    periodic_task = models.OneToOneField(
        PeriodicTask, on_delete=models.CASCADE, related_name="schedule_options"
    )
    catch_up = models.CharField(max_length=16, choices=CatchUp.choices, default=CatchUp.RUN_ONCE)
    overlap = models.CharField(max_length=16, choices=Overlap.choices, default=Overlap.SKIP)
    # Pause the schedule after this many failed runs in a row (None: never).
    pause_after_failures = models.PositiveSmallIntegerField(null=True, blank=True)
    # Set while the schedule is paused by that rule; Resume clears it.
    paused_for_failures_at = models.DateTimeField(null=True, blank=True)
    # Failures before this (the last resume) no longer count towards the rule.
    failures_counted_since = models.DateTimeField(null=True, blank=True)
    # Declared in code (<app>/periodic.py); sync_default_schedules keeps it up to date.
    platform_owned = models.BooleanField(default=False)

    class Meta:
        verbose_name = "schedule options"
        verbose_name_plural = "schedule options"
        indexes = [
            # The admin's list filters on these.
            models.Index(fields=["overlap"], name="sched_opt_overlap_idx"),
            models.Index(fields=["catch_up"], name="sched_opt_catch_up_idx"),
        ]

    def __str__(self) -> str:
        return f"options for {self.periodic_task_id}"


class ScheduleChange(models.Model):
    """Audit trail: every schedule change, whoever or whatever made it.

    Written by `schedules.services.audit` only, so every entry point (the admin, the
    default-schedules sync, a report definition, pause on failure) leaves a record:
    `user` when a person did it, `source` says through what.
    """

    class Action(models.TextChoices):
        CREATED = "created", "created"
        CHANGED = "changed", "changed"
        DELETED = "deleted", "deleted"
        PAUSED = "paused", "paused"
        RESUMED = "resumed", "resumed"
        RUN_NOW = "run_now", "run now"
        LOCK_RELEASED = "lock_released", "lock released"

    changed_at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    # The entry point: "admin", "sync_default_schedules", "report definition ...", ...
    source = models.CharField(max_length=200, blank=True, default="")
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    periodic_task = models.ForeignKey(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["-changed_at"], name="sched_change_at_idx"),
            models.Index(fields=["object_type", "-changed_at"], name="sched_change_type_idx"),
            models.Index(fields=["action", "-changed_at"], name="sched_change_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_repr}"
