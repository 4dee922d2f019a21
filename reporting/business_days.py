"""Business days of a report definition: its weekdays, its timezone, its holiday calendar.

The rule (documented in docs/reporting.md): a report run at local time `t` reports on
the local date of `t`, unless `t` is before REPORTING_DAY_ROLLOVER_HOUR, in which case
it reports on the previous local date. So an 18:00 send reports on today, a 00:30
send reports on yesterday, and a message held up in the queue past midnight still
reports on the day the schedule meant.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings

from reporting.models import WEEKDAY_CHOICES, ReportDefinition

WEEKDAY_NAMES = dict(WEEKDAY_CHOICES)


def holiday_language() -> str:
    """The platform's language in the holidays package's spelling ("en-us" -> "en_US").

    Named on purpose: left unset, holidays names a country's holidays in the country's
    own language or the process locale, which differ between releases and machines
    ("Erster Weihnachtstag" instead of "Christmas Day"). A language a country has no
    translation for falls back to the country's own."""
    language, _, region = settings.LANGUAGE_CODE.partition("-")
    return f"{language}_{region.upper()}" if region else language


def holiday_calendar(country: str, subdivision: str, year: int) -> holidays.HolidayBase:
    return _holiday_calendar(country, subdivision, year, holiday_language())


@functools.lru_cache(maxsize=64)
def _holiday_calendar(
    country: str, subdivision: str, year: int, language: str
) -> holidays.HolidayBase:
    return holidays.country_holidays(
        country, subdiv=subdivision or None, years=year, language=language
    )


def holiday_name(*, definition: ReportDefinition, day: dt.date) -> str | None:
    if not definition.holiday_country:
        return None
    calendar = holiday_calendar(
        definition.holiday_country, definition.holiday_subdivision, day.year
    )
    return calendar.get(day)


def local_day_bounds(*, day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day as aware instants (23 or 25 hours across DST)."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end


def rollover_hour() -> int:
    return settings.REPORTING_DAY_ROLLOVER_HOUR


def business_date_at(*, definition: ReportDefinition, at: dt.datetime) -> dt.date:
    """The business date a report running at the aware instant `at` reports on."""
    local = at.astimezone(ZoneInfo(definition.timezone))
    day = local.date()
    if local.hour < rollover_hour():
        day -= dt.timedelta(days=1)
    return day


@dataclass(frozen=True)
class DayVerdict:
    is_business_day: bool
    reason: str = ""  # why not: "weekend" (not one of its weekdays) or "holiday: <name>"

    @property
    def is_holiday(self) -> bool:
        return self.reason.startswith("holiday")


def business_day_verdict(*, definition: ReportDefinition, day: dt.date) -> DayVerdict:
    if day.isoweekday() not in definition.weekday_numbers:
        return DayVerdict(False, f"not a business day ({WEEKDAY_NAMES[str(day.isoweekday())]})")
    name = holiday_name(definition=definition, day=day)
    if name:
        return DayVerdict(False, f"holiday: {name}")
    return DayVerdict(True)


def previous_business_day(*, definition: ReportDefinition, day: dt.date) -> dt.date:
    """The business day before `day` (for day-over-day change); at most a year back."""
    candidate = day - dt.timedelta(days=1)
    for _ in range(366):
        if business_day_verdict(definition=definition, day=candidate).is_business_day:
            return candidate
        candidate -= dt.timedelta(days=1)
    return day - dt.timedelta(days=1)


def last_completed_business_day(*, definition: ReportDefinition, at: dt.datetime) -> dt.date:
    """The newest business day whose report is due at or before `at` (preview default)."""
    day = business_date_at(definition=definition, at=at)
    if send_instant(definition=definition, day=day) > at:
        day -= dt.timedelta(days=1)
    for _ in range(366):
        if business_day_verdict(definition=definition, day=day).is_business_day:
            return day
        day -= dt.timedelta(days=1)
    return day


def _sends_on_next_day(definition: ReportDefinition) -> bool:
    return definition.send_hour < rollover_hour()


def send_instant(*, definition: ReportDefinition, day: dt.date) -> dt.datetime:
    """The aware instant the report for business date `day` is sent.

    Wall-clock time in the definition's timezone; a wall time that does not exist on a
    DST spring-forward day resolves the way zoneinfo does (fold=0: the offset before
    the change), which is also where beat's timezone-aware crontab fires.
    """
    send_day = day + dt.timedelta(days=1) if _sends_on_next_day(definition) else day
    return dt.datetime.combine(
        send_day,
        dt.time(definition.send_hour, definition.send_minute),
        tzinfo=ZoneInfo(definition.timezone),
    )


def next_send_times(
    *, definition: ReportDefinition, after: dt.datetime, count: int = 5
) -> list[tuple[dt.datetime, dt.date]]:
    """The next `count` (send instant, business date) pairs, weekends and holidays removed."""
    found: list[tuple[dt.datetime, dt.date]] = []
    if not definition.weekday_numbers:
        return found
    day = business_date_at(definition=definition, at=after) - dt.timedelta(days=1)
    for _ in range(3 * 366):
        day += dt.timedelta(days=1)
        instant = send_instant(definition=definition, day=day)
        if instant <= after:
            continue
        if business_day_verdict(definition=definition, day=day).is_business_day:
            found.append((instant, day))
            if len(found) == count:
                break
    return found


def crontab_fields(*, definition: ReportDefinition) -> dict[str, str]:
    """The beat crontab that fires on every business weekday's send time.

    Holidays are not expressible in cron: the task skips them when it runs. A send time
    before the rollover hour fires the morning *after* each business weekday.
    """
    shift = 1 if _sends_on_next_day(definition) else 0
    # cron counts 0 = Sunday .. 6 = Saturday; ISO counts 1 = Monday .. 7 = Sunday.
    cron_days = sorted({(day % 7 + shift) % 7 for day in definition.weekday_numbers})
    return {
        "minute": str(definition.send_minute),
        "hour": str(definition.send_hour),
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": ",".join(str(day) for day in cron_days) or "*",
    }


def schedule_in_words(*, definition: ReportDefinition) -> str:
    days = definition.weekday_numbers
    if days == [1, 2, 3, 4, 5]:
        day_words = "Monday to Friday"
    elif days == list(range(1, 8)):
        day_words = "every day"
    else:
        day_words = ", ".join(WEEKDAY_NAMES[str(day)] for day in days) or "no day"
    words = f"{definition.send_hour:02d}:{definition.send_minute:02d} {definition.timezone}, {day_words}"
    if _sends_on_next_day(definition):
        words += " (sent the next morning for the business day before)"
    if definition.holiday_country:
        region = definition.holiday_country + (
            f"-{definition.holiday_subdivision}" if definition.holiday_subdivision else ""
        )
        words += f", skipping public holidays in {region}"
    return words
