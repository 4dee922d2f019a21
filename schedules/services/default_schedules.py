"""Default schedules as code: create or update the periodic tasks apps declare."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from schedules.defaults import default_schedule_entries
from schedules.services.audit import periodic_task_write, schedule_object_find_or_create

SOURCE = "sync_default_schedules"


def _schedule_for(entry: dict[str, Any]) -> dict[str, Any]:
    if "interval" in entry:
        interval = schedule_object_find_or_create(
            model=IntervalSchedule,
            fields={"every": int(entry["interval"]), "period": IntervalSchedule.SECONDS},
            source=SOURCE,
        )
        return {"interval": interval, "crontab": None}
    minute, hour, day_of_month, month_of_year, day_of_week = entry["crontab"].split()
    crontab = schedule_object_find_or_create(
        model=CrontabSchedule,
        fields={
            "minute": minute,
            "hour": hour,
            "day_of_month": day_of_month,
            "month_of_year": month_of_year,
            "day_of_week": day_of_week,
            "timezone": entry.get("timezone", "UTC"),
        },
        source=SOURCE,
    )
    return {"crontab": crontab, "interval": None}


@transaction.atomic
def default_schedules_sync(*, entries: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Create or update the declared periodic tasks by name; idempotent and audited
    (source "sync_default_schedules"). Only the fields an entry declares are written,
    so an admin's enabled flag and last_run_at stay."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for entry in default_schedule_entries() if entries is None else entries:
        fields = {
            "name": entry["name"],
            "task": entry["task"],
            "kwargs": json.dumps(entry.get("kwargs", {}), sort_keys=True),
            "queue": entry.get("queue"),
            "description": entry.get("description", ""),
            **_schedule_for(entry),
        }
        options: dict[str, Any] = {"platform_owned": True}
        for name in ("catch_up", "overlap", "pause_after_failures"):
            if name in entry:
                options[name] = entry[name]
        _, outcome = periodic_task_write(
            periodic_task=PeriodicTask.objects.filter(name=entry["name"]).first(),
            fields=fields,
            options=options,
            source=SOURCE,
        )
        counts[outcome] += 1
    return counts
