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


class Store(models.Model):
    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.code


class OrderLine(models.Model):
    """One line of a shop's order export, keyed by (order, line): the wide file a team
    sends every night (benchmarks/batches_import_wide.py). The export writes "n/a" where a
    value is missing."""

    order = models.BigIntegerField()
    line = models.SmallIntegerField()
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="order_lines")
    sku = models.CharField(max_length=20)
    description = models.TextField(blank=True)
    quantity = models.IntegerField(null=True, blank=True)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    discount = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    tax = models.DecimalField(max_digits=10, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    ordered_on = models.DateField()
    shipped_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001 (NULL: "n/a")
    channel = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001
    region = models.CharField(max_length=20, null=True, blank=True)  # noqa: DJ001
    priority = models.SmallIntegerField(null=True, blank=True)
    boxes = models.IntegerField(null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "line"], name="team_orderline_order_line")
        ]

    def __str__(self) -> str:
        return f"{self.order}/{self.line}"


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
