"""Business dates and send times, with explicit instants instead of the wall clock."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from reporting.business_days import (
    _holiday_calendar,
    business_date_at,
    business_day_verdict,
    crontab_fields,
    last_completed_business_day,
    next_send_times,
    previous_business_day,
    schedule_in_words,
)
from reporting.models import ReportDefinition

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def definition(**fields) -> ReportDefinition:
    values = {"name": "r", "to_recipients": "a@example.com", "timezone": "Europe/Berlin"}
    values.update(fields)
    return ReportDefinition(**values)


def test_friday_evening_reports_on_friday_and_is_a_business_day():
    report = definition()
    day = business_date_at(definition=report, at=dt.datetime(2026, 11, 20, 18, 0, tzinfo=BERLIN))
    assert day == dt.date(2026, 11, 20)
    assert business_day_verdict(definition=report, day=day).is_business_day


@pytest.mark.parametrize("day", [dt.date(2026, 11, 21), dt.date(2026, 11, 22)])
def test_saturday_and_sunday_are_not_business_days(day):
    verdict = business_day_verdict(definition=definition(), day=day)
    assert not verdict.is_business_day
    assert not verdict.is_holiday
    assert "not a business day" in verdict.reason


def test_a_public_holiday_of_the_chosen_calendar_is_not_a_business_day():
    christmas_friday = dt.date(2026, 12, 25)
    with_calendar = definition(holiday_country="DE")
    verdict = business_day_verdict(definition=with_calendar, day=christmas_friday)
    assert verdict.is_holiday
    assert verdict.reason.startswith("holiday: ")
    assert business_day_verdict(definition=definition(), day=christmas_friday).is_business_day


@pytest.mark.parametrize("locale_variable", ["LANGUAGE", "LC_ALL", "LANG"])
def test_holidays_are_named_in_the_platform_language_whatever_the_process_locale(
    monkeypatch, locale_variable
):
    # The holidays package otherwise names them in the country's language or the
    # locale's, which changed between its releases ("Erster Weihnachtstag").
    monkeypatch.setenv(locale_variable, "de_DE.UTF-8")
    _holiday_calendar.cache_clear()  # a calendar made earlier must not hide the locale's
    report = definition(holiday_country="DE")
    verdict = business_day_verdict(definition=report, day=dt.date(2026, 12, 25))
    assert verdict.reason == "holiday: Christmas Day"


def test_a_regional_holiday_counts_only_for_its_subdivision():
    repentance_day = dt.date(2026, 11, 18)  # Buss- und Bettag: a holiday in Saxony only
    assert business_day_verdict(
        definition=definition(holiday_country="DE", holiday_subdivision="SN"), day=repentance_day
    ).is_holiday
    assert business_day_verdict(
        definition=definition(holiday_country="DE"), day=repentance_day
    ).is_business_day


def test_business_date_is_the_local_date_not_the_utc_date_across_midnight():
    los_angeles = definition(timezone="America/Los_Angeles")
    # Friday 18:00 in Los Angeles is already Saturday 02:00 UTC.
    at = dt.datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert business_date_at(definition=los_angeles, at=at) == dt.date(2026, 11, 20)
    # Saturday 00:30 in Berlin is Friday 23:30 UTC; a report then is about Friday.
    at = dt.datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert business_date_at(definition=definition(), at=at) == dt.date(2026, 11, 20)


def test_a_report_just_after_midnight_reports_on_the_day_that_just_ended():
    report = definition(send_hour=0, send_minute=30)
    saturday_0030 = dt.datetime(2026, 11, 21, 0, 30, tzinfo=BERLIN)
    assert business_date_at(definition=report, at=saturday_0030) == dt.date(2026, 11, 20)
    # ... so its crontab fires Tuesday to Saturday for Monday-to-Friday business days.
    assert crontab_fields(definition=report)["day_of_week"] == "2,3,4,5,6"
    assert "next morning" in schedule_in_words(definition=report)


def test_a_message_delayed_past_midnight_still_reports_on_the_scheduled_day():
    late = dt.datetime(2026, 11, 21, 1, 15, tzinfo=BERLIN)
    assert business_date_at(definition=definition(), at=late) == dt.date(2026, 11, 20)


def test_send_time_keeps_its_local_wall_clock_across_the_autumn_dst_change():
    sends = next_send_times(
        definition=definition(), after=dt.datetime(2026, 10, 23, 12, 0, tzinfo=UTC), count=2
    )
    friday, monday = sends
    assert friday == (dt.datetime(2026, 10, 23, 16, 0, tzinfo=UTC), dt.date(2026, 10, 23))  # CEST
    assert monday == (dt.datetime(2026, 10, 26, 17, 0, tzinfo=UTC), dt.date(2026, 10, 26))  # CET
    assert [instant.astimezone(BERLIN).hour for instant, _ in sends] == [18, 18]


def test_business_date_on_the_25_hour_dst_day_and_the_23_hour_day():
    every_day = definition(business_weekdays="1,2,3,4,5,6,7")
    # 2026-10-25 has 02:00-03:00 twice in Berlin; late evening is still the 25th.
    at = dt.datetime(2026, 10, 25, 22, 30, tzinfo=UTC)  # 23:30 CET
    assert business_date_at(definition=every_day, at=at) == dt.date(2026, 10, 25)
    # 2026-03-29 skips 02:00-03:00; 23:30 CEST is 21:30 UTC and still the 29th.
    at = dt.datetime(2026, 3, 29, 21, 30, tzinfo=UTC)
    assert business_date_at(definition=every_day, at=at) == dt.date(2026, 3, 29)
    # And just after local midnight (22:10 UTC on the 29th) it is the 29th, reported on.
    at = dt.datetime(2026, 3, 29, 22, 10, tzinfo=UTC)
    assert business_date_at(definition=every_day, at=at) == dt.date(2026, 3, 29)


def test_next_five_sends_skip_weekends_and_holidays():
    report = definition(holiday_country="DE")
    sends = next_send_times(
        definition=report, after=dt.datetime(2026, 12, 23, 12, 0, tzinfo=UTC), count=5
    )
    assert [day for _, day in sends] == [
        dt.date(2026, 12, 23),
        dt.date(2026, 12, 24),  # Christmas Eve is no public holiday in Germany
        dt.date(2026, 12, 28),  # 25th and 26th are holidays, 26th/27th a weekend
        dt.date(2026, 12, 29),
        dt.date(2026, 12, 30),
    ]


def test_day_over_day_compares_with_the_previous_business_day():
    report = definition(holiday_country="DE")
    assert previous_business_day(definition=report, day=dt.date(2026, 11, 23)) == dt.date(
        2026, 11, 20
    )
    assert previous_business_day(definition=report, day=dt.date(2026, 12, 28)) == dt.date(
        2026, 12, 24
    )


def test_preview_defaults_to_the_last_business_day_already_due():
    report = definition()
    sunday = dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert last_completed_business_day(definition=report, at=sunday) == dt.date(2026, 11, 20)
    monday_noon = dt.datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert last_completed_business_day(definition=report, at=monday_noon) == dt.date(2026, 11, 20)
    monday_evening = dt.datetime(2026, 11, 23, 18, 5, tzinfo=BERLIN)
    assert last_completed_business_day(definition=report, at=monday_evening) == dt.date(
        2026, 11, 23
    )


def test_default_schedule_is_18_00_monday_to_friday():
    report = definition()
    assert crontab_fields(definition=report) == {
        "minute": "0", "hour": "18", "day_of_month": "*", "month_of_year": "*",
        "day_of_week": "1,2,3,4,5",
    }  # fmt: skip
    assert schedule_in_words(definition=report) == "18:00 Europe/Berlin, Monday to Friday"
