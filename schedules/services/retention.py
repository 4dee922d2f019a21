"""Retention: old run history and audit rows go, a bounded batch per statement."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from schedules.models import ScheduleChange, TaskRun


def history_prune(*, now: datetime | None = None, batch_size: int = 10_000) -> dict[str, int]:
    """Delete runs older than SCHEDULES_HISTORY_DAYS and audit rows older than
    SCHEDULES_AUDIT_DAYS, a bounded batch per statement so no delete holds locks for
    long or bloats one transaction. Idempotent."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    for label, model, field, days in (
        ("runs", TaskRun, "queued_at", settings.SCHEDULES_HISTORY_DAYS),
        ("changes", ScheduleChange, "changed_at", settings.SCHEDULES_AUDIT_DAYS),
    ):
        cutoff = now - timedelta(days=days)
        deleted = 0
        while True:
            batch = (
                model.objects.filter(**{f"{field}__lt": cutoff})
                .order_by(field)
                .values("pk")[:batch_size]
            )
            # DELETE ... WHERE id IN (SELECT id ... LIMIT n): nothing references these rows.
            count, _ = model.objects.filter(pk__in=batch).delete()  # type: ignore[misc]
            deleted += count
            if count < batch_size:
                break
        counts[label] = deleted
    return counts
