"""Next run times and plain-words descriptions, from Celery's own schedule objects.

The next-run arithmetic is Celery's (`crontab.remaining_delta`, the interval's
`run_every`), so what the admin shows is what beat will do. Wall-clock results are
re-attached to the schedule's own timezone, so a daily 18:00 stays 18:00 local time
across daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from celery import schedules as celery_schedules
from cron_descriptor import Options, get_description
from django_celery_beat.clockedschedule import clocked
from django_celery_beat.models import PeriodicTask


def _zone(tz) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    return ZoneInfo(str(tz or "UTC"))


def next_run_after(schedule, after: datetime) -> datetime | None:
    """The first due time strictly after `after`, as an aware datetime, or None."""
    if isinstance(schedule, celery_schedules.crontab):
        zone = _zone(schedule.tz)
        start = after.astimezone(zone)
        last_run_at, delta, _now = schedule.remaining_delta(start, tz=zone)
        wall = (last_run_at + delta).replace(tzinfo=None)
        # Re-attach the zone to the wall-clock time: the UTC offset of the due day,
        # not the offset of the day the previous run happened on.
        nxt = wall.replace(tzinfo=zone)
        if nxt <= after:  # same minute as `after`: look from the next minute on
            return next_run_after(schedule, (after + timedelta(minutes=1)).replace(second=0))
        return nxt
    if isinstance(schedule, clocked):
        when = schedule.clocked_time
        return when if when > after else None
    if isinstance(schedule, celery_schedules.solar):
        # Solar events depend on ephem's calculations relative to "now".
        now = schedule.now()
        return now + schedule.remaining_estimate(after)
    if isinstance(schedule, celery_schedules.schedule):
        return after + schedule.run_every  # type: ignore[attr-defined]  # missing from the stubs
    return None


def next_runs(schedule, *, after: datetime, count: int = 5) -> list[datetime]:
    runs: list[datetime] = []
    current = after
    for _ in range(count):
        nxt = next_run_after(schedule, current)
        if nxt is None:
            break
        runs.append(nxt)
        current = nxt
    return runs


def periodic_task_next_runs(task: PeriodicTask, *, count: int = 5) -> list[datetime]:
    """Next run times of a periodic task in its own timezone (empty when it is off)."""
    if not task.enabled:
        return []
    try:
        schedule = task.schedule
    except Exception:
        return []
    now = datetime.now(UTC)
    if task.interval_id:
        # Interval runs count from the last run, as beat does.
        last = task.last_run_at or now
        first = last + schedule.run_every
        while first < now:
            first += schedule.run_every
        return [first + i * schedule.run_every for i in range(count)]
    if task.one_off and task.total_run_count:
        return []
    try:
        runs = next_runs(schedule, after=now, count=count)
    except Exception:  # a schedule Celery cannot compute must not break the admin page
        return []
    zone = periodic_task_zone(task)
    return [run.astimezone(zone) for run in runs]


def periodic_task_zone(task: PeriodicTask) -> ZoneInfo:
    if task.crontab_id:
        return _zone(task.crontab.timezone)
    if task.clocked_id:
        from django.conf import settings

        return _zone(settings.TIME_ZONE)
    return _zone("UTC")


def describe_crontab(expression: str, timezone: str) -> str:
    """'At 18:00, Monday through Friday (Europe/London)'."""
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        text = get_description(expression, options)
    except Exception as exc:
        return f"invalid crontab: {exc}"
    return f"{text} ({timezone})"


_PERIOD_SECONDS = {
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}
_PERIOD_WORDS = {"days": "day", "hours": "hour", "minutes": "minute", "seconds": "second"}


def describe_periodic_task(task: PeriodicTask) -> str:
    if task.crontab_id:
        cron = task.crontab
        expression = " ".join(
            [cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week]
        )
        return describe_crontab(expression, str(cron.timezone))
    if task.interval_id:
        every, period = task.interval.every, task.interval.period
        seconds = every * _PERIOD_SECONDS.get(period, 1)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
            if period in _PERIOD_SECONDS and seconds % size == 0:
                count = seconds // size
                return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
        unit = _PERIOD_WORDS.get(period, period)
        return f"Every {every} {unit}s"
    if task.clocked_id:
        return f"Once, at {task.clocked.clocked_time:%Y-%m-%d %H:%M %Z}"
    if task.solar_id:
        solar = task.solar
        return f"At {solar.get_event_display().lower()} at {solar.latitude}, {solar.longitude}"
    return "No schedule"
