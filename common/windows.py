"""Days as time windows, and rows counted per window and status in one query: what
the admin home shows for "last night" (today and yesterday, in the site's timezone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.utils import timezone


@dataclass(frozen=True)
class Window:
    label: str
    day: date
    start: datetime
    end: datetime

    def query(self, field: str, **extra: str) -> str:
        """A changelist query string selecting this window on `field` (and `extra`)."""
        return "?" + urlencode(
            {**extra, f"{field}__gte": self.start.isoformat(), f"{field}__lt": self.end.isoformat()}
        )


def day_windows(*, now: datetime | None = None) -> list[Window]:
    """Today and yesterday, midnight to midnight in the current timezone."""
    today = timezone.localdate(now)
    zone = timezone.get_current_timezone()
    windows = []
    for label, day in (("today", today), ("yesterday", today - timedelta(days=1))):
        start = datetime.combine(day, time.min, tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
        windows.append(Window(label=label, day=day, start=start, end=end))
    return windows


def counts_by_window(
    queryset: QuerySet, *, field: str, windows: list[Window], by: str = "status"
) -> dict[str, dict[str, int]]:
    """{window label: {value of `by`: rows}} for rows whose `field` falls in a window;
    one grouped query, whatever the number of rows."""
    which = Case(
        *(
            When(Q(**{f"{field}__gte": w.start, f"{field}__lt": w.end}), then=Value(w.label))
            for w in windows
        ),
        output_field=CharField(),
    )
    counts: dict[str, dict[str, int]] = {window.label: {} for window in windows}
    rows = (
        queryset.filter(
            **{
                f"{field}__gte": min(w.start for w in windows),
                f"{field}__lt": max(w.end for w in windows),
            }
        )
        .annotate(window=which)
        .values_list("window", by)
        .annotate(rows=Count("pk"))
        .order_by()
    )
    for label, value, number in rows:
        if label is not None:
            counts[label][value] = number
    return counts
