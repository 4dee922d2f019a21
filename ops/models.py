"""Ops state: alerts people act on, and the measurements that raise them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# What each alert kind means, for people; the kind itself stays the stable code that
# filters, emails and Sentry tags use. Kinds not listed read as their code in words.
KIND_LABELS = {
    "queue_no_worker": "Queues without a worker",
    "redis_unreachable": "Redis not answering",
    "queue_stalled": "Queue stalled",
    "queue_latency": "Queue slow to start tasks",
    "queue_depth": "Queue backlog",
    "beat_stalled": "Beat stopped sending",
    "task_failing": "Periodic task failing",
    "import_stalled": "Import stalled",
    "import_failed": "Import failed",
    "import_chunk_killed_worker": "Import chunk kills its worker",
    "inbox_file_failed": "Inbox file could not be taken",
    "report_send_failed": "Report not sent",
    "report_send_unknown": "Report delivery unknown",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


class Alert(models.Model):
    """One condition ops should look at; at most one open alert per (kind, subject)."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        RESOLVED = "resolved", "resolved"

    class Severity(models.TextChoices):
        RED = "red", "red"
        AMBER = "amber", "amber"

    kind = models.CharField(max_length=64)
    subject = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.RED)
    message = models.TextField(blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    occurrences = models.PositiveIntegerField(
        default=1, help_text="how many times this condition was raised while open"
    )
    # Empty when the condition cleared by itself; who and why when resolved by hand.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution_note = models.TextField(blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            # The database, not the caller, guarantees "open once per condition":
            # two checkers racing on the same condition cannot both insert.
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=Q(status="open"),
                name="ops_alert_one_open_per_kind_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-last_seen_at"], name="ops_alert_status_seen"),
            models.Index(fields=["kind", "status"], name="ops_alert_kind_status"),
            models.Index(fields=["severity", "status"], name="ops_alert_severity_status"),
            models.Index(fields=["-first_seen_at"], name="ops_alert_first_seen"),
            # Recently resolved (dashboard), pruning, and the platform report's day.
            models.Index(fields=["status", "-resolved_at"], name="ops_alert_status_resolved"),
            models.Index(fields=["resolved_at"], name="ops_alert_resolved"),
        ]
        permissions = [
            ("view_dashboard", "Can view the ops dashboard"),
            ("acknowledge_alert", "Can acknowledge ops alerts"),
            ("resolve_alert", "Can resolve ops alerts by hand, with a note"),
        ]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} {self.kind} {self.subject} ({self.status})"

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)


class Heartbeat(models.Model):
    """A heartbeat task that a worker started: how long the queue made it wait."""

    queue = models.CharField(max_length=64)
    celery_task_id = models.CharField(max_length=255, unique=True)
    sent_at = models.DateTimeField()
    started_at = models.DateTimeField()
    latency = models.FloatField(help_text="seconds from send to start")
    worker = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["queue", "-started_at"], name="ops_heartbeat_queue_started"),
            models.Index(fields=["started_at"], name="ops_heartbeat_started"),
        ]

    def __str__(self) -> str:
        return f"{self.queue} {self.latency:.3f}s at {self.started_at:%Y-%m-%d %H:%M:%S}"


class QueueSample(models.Model):
    """Depth and consumers of a queue when the checks ran; feeds the 24 h charts."""

    queue = models.CharField(max_length=64)
    sampled_at = models.DateTimeField()
    depth = models.PositiveIntegerField()
    consumers = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-sampled_at"]
        indexes = [
            models.Index(fields=["queue", "-sampled_at"], name="ops_sample_queue_sampled"),
            models.Index(fields=["sampled_at"], name="ops_sample_sampled"),
        ]

    def __str__(self) -> str:
        return f"{self.queue} depth {self.depth} at {self.sampled_at:%Y-%m-%d %H:%M:%S}"


class Dashboard(Alert):
    """Admin entry point for the ops dashboard (a proxy, so no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "ops dashboard"
        verbose_name_plural = "ops dashboard"
        default_permissions = ()
