"""Writes to schedules: creating and updating django-celery-beat periodic tasks."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from schedules.defaults import default_schedule_entries


def _schedule_for(entry: dict[str, Any]) -> dict[str, Any]:
    if "interval" in entry:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(entry["interval"]), period=IntervalSchedule.SECONDS
        )
        return {"interval": interval, "crontab": None}
    minute, hour, day_of_month, month_of_year, day_of_week = entry["crontab"].split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=entry.get("timezone", "UTC"),
    )
    return {"crontab": crontab, "interval": None}


@transaction.atomic
def default_schedules_sync(*, entries: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """Create or update the platform's periodic tasks by name; idempotent."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for entry in default_schedule_entries() if entries is None else entries:
        wanted = {
            "task": entry["task"],
            "kwargs": json.dumps(entry.get("kwargs", {}), sort_keys=True),
            "queue": entry.get("queue"),
            "description": entry.get("description", ""),
            **_schedule_for(entry),
        }
        task = PeriodicTask.objects.filter(name=entry["name"]).first()
        if task is None:
            PeriodicTask.objects.create(name=entry["name"], **wanted)
            counts["created"] += 1
            continue
        changed = [field for field, value in wanted.items() if getattr(task, field) != value]
        if not changed:
            counts["unchanged"] += 1
            continue
        for field in changed:
            setattr(task, field, wanted[field])
        # Only the changed fields: an admin's enabled flag and last_run_at stay as they are.
        task.save(update_fields=changed)
        counts["updated"] += 1
    return counts
