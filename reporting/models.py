"""Report definitions (what to send, to whom, when) and report runs (each send)."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import Q

PLATFORM_KIND = "platform_day"
ATTACHMENT_FORMAT_CHOICES = [("csv", "CSV"), ("xlsx", "Excel (XLSX)")]
WEEKDAY_CHOICES = [
    ("1", "Monday"), ("2", "Tuesday"), ("3", "Wednesday"), ("4", "Thursday"),
    ("5", "Friday"), ("6", "Saturday"), ("7", "Sunday"),
]  # fmt: skip


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ReportDefinition(models.Model):
    """A report that goes out on a schedule, on the business days of its timezone."""

    name = models.CharField(max_length=200, unique=True)
    # A key of reporting.registry; the platform's own end-of-day report by default.
    kind = models.CharField(max_length=50, default=PLATFORM_KIND)
    # The kind's parameters, as its parameters form reads them back (JSON-ready values).
    parameters = models.JSONField(default=dict, blank=True)
    to_recipients = models.TextField(
        "to", help_text="Email addresses, separated by commas or new lines."
    )
    cc_recipients = models.TextField("cc", blank=True)
    send_hour = models.PositiveSmallIntegerField(default=18)
    send_minute = models.PositiveSmallIntegerField(default=0)
    # ISO weekday numbers (1 = Monday) of the *business days* reported on, e.g. "1,2,3,4,5".
    business_weekdays = models.CharField(max_length=20, default="1,2,3,4,5")
    timezone = models.CharField(max_length=64, default="UTC")
    holiday_country = models.CharField(
        max_length=8, blank=True, help_text="Skip this country's public holidays (optional)."
    )
    holiday_subdivision = models.CharField(max_length=16, blank=True)
    enabled = models.BooleanField(default=True)
    skip_when_empty = models.BooleanField(
        default=False,
        help_text="Send nothing on a day the report has nothing to say (recorded as a skipped run).",
    )
    # Comma-separated ATTACHMENT_FORMATS keys; empty sends no attachment.
    attachment_formats = models.CharField(max_length=20, default="csv", blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="report_definition",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["enabled", "kind"], name="reportdef_enabled_kind"),
            models.Index(fields=["timezone"], name="reportdef_timezone"),
        ]
        permissions = [
            ("send_report", "Can preview reports, send test reports and resend reports"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def weekday_numbers(self) -> list[int]:
        return sorted(int(day) for day in self.business_weekdays.split(",") if day.strip())

    @property
    def attachment_format_list(self) -> list[str]:
        return [name.strip() for name in self.attachment_formats.split(",") if name.strip()]

    @property
    def to_list(self) -> list[str]:
        return split_addresses(self.to_recipients)

    @property
    def cc_list(self) -> list[str]:
        return split_addresses(self.cc_recipients)


def split_addresses(value: str) -> list[str]:
    return [
        part.strip()
        for part in value.replace(";", ",").replace("\n", ",").split(",")
        if part.strip()
    ]


class ReportRun(models.Model):
    """One attempt to deliver a report for one business date.

    Scheduled runs are unique per (definition, business_date) in the database, so no
    retry, redelivery or second beat can produce a second scheduled email. Resends and
    test sends are their own rows with their own kind.
    """

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "scheduled"
        RESEND = "resend", "resend"
        TEST = "test", "test to self"
        MANUAL = "manual", "manual (command)"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        SKIPPED = "skipped", "skipped"
        UNKNOWN = "unknown", "unknown — check inbox"

    # PROTECT: the send history is the record of what went out; pause a definition
    # instead of deleting it once it has sent.
    definition = models.ForeignKey(ReportDefinition, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SCHEDULED)
    business_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    to_recipients = models.TextField(blank=True)
    cc_recipients = models.TextField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The Celery task id of the attempt now in flight: tells a redelivery of the same
    # message (the worker died) apart from a concurrent duplicate message.
    attempt_task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-business_date", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "business_date"],
                condition=Q(kind="scheduled"),
                name="reportrun_one_scheduled_per_business_date",
            ),
        ]
        indexes = [
            models.Index(fields=["definition", "-business_date"], name="reportrun_def_date"),
            models.Index(fields=["status", "-business_date"], name="reportrun_status_date"),
            models.Index(fields=["kind", "-business_date"], name="reportrun_kind_date"),
            models.Index(fields=["-business_date", "-created_at"], name="reportrun_date_created"),
        ]

    def __str__(self) -> str:
        return f"{self.definition} {self.business_date} ({self.kind}, {self.status})"
