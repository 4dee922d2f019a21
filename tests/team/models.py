"""A team's own models, written the way teams write them: timestamps filled by
Django (`auto_now_add`, `auto_now`), callable defaults, nullable fields."""

import uuid

from django.db import models
from django.utils import timezone


class Station(models.Model):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.code


class Reading(models.Model):
    """One day of weather at a station, keyed by (station, day)."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="readings")
    day = models.DateField()
    temp_max = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    temp_min = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    precipitation = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    wind = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    # Whole centimetres; NOAA files write a missing value as "M".
    snow_depth = models.IntegerField(null=True, blank=True)
    weather = models.CharField(max_length=20, blank=True, default="")
    note = models.TextField(null=True, blank=True)  # noqa: DJ001 (NULL means "not given")
    reference = models.UUIDField(default=uuid.uuid4, editable=False)
    received_at = models.DateTimeField(default=timezone.now)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["station", "day"], name="team_reading_station_day")
        ]

    def __str__(self) -> str:
        return f"{self.station_id} {self.day}"


class TimedRun(models.Model):
    """One run of `team.timed_step`, as the team itself records it: when it started and
    ended, in which process. The chaos run checks overlap policies against these rows,
    not against the platform's run history."""

    key = models.CharField(max_length=50)
    celery_task_id = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["key", "started_at"], name="team_timedrun_key_start")]

    def __str__(self) -> str:
        return f"{self.key} {self.started_at:%H:%M:%S}"
