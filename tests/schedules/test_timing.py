"""Next run times across daylight-saving changes, checked against croniter, and plain words."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from schedules.timing import (
    describe_crontab,
    describe_periodic_task,
    next_runs,
    periodic_task_next_runs,
)

UTC = ZoneInfo("UTC")

# (zone, a moment a few days before a DST change in that zone)
DST_CHANGES = [
    ("Europe/London", datetime(2026, 3, 26, 12, 0)),  # clocks go forward 29 March
    ("Europe/London", datetime(2026, 10, 22, 12, 0)),  # clocks go back 25 October
    ("America/New_York", datetime(2026, 3, 5, 12, 0)),  # forward 8 March
    ("America/New_York", datetime(2026, 10, 29, 12, 0)),  # back 1 November
]
EXPRESSIONS = ["0 18 * * 1-5", "30 9 * * *", "15 */6 * * *", "45 4 * * 0", "0 12 1,15 * *"]


def _beat_schedule(expression: str, zone: str):
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    # The same object django-celery-beat hands to beat.
    return CrontabSchedule(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=zone,
    ).schedule


@pytest.mark.parametrize(("zone", "local_start"), DST_CHANGES)
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_next_runs_across_a_dst_change_match_croniter(zone, local_start, expression):
    start = local_start.replace(tzinfo=ZoneInfo(zone))
    schedule = _beat_schedule(expression, zone)

    ours = [run.astimezone(UTC) for run in next_runs(schedule, after=start, count=12)]

    reference = croniter(expression, start)
    expected = [reference.get_next(datetime).astimezone(UTC) for _ in range(12)]
    assert ours == expected


def test_a_weekday_evening_job_stays_at_1800_local_time_when_the_clocks_change():
    start = datetime(2026, 10, 22, 19, 0, tzinfo=ZoneInfo("Europe/London"))
    schedule = _beat_schedule("0 18 * * 1-5", "Europe/London")

    runs = next_runs(schedule, after=start, count=5)

    local = [run.astimezone(ZoneInfo("Europe/London")) for run in runs]
    assert [f"{run:%a %H:%M %Z}" for run in local] == [
        "Fri 18:00 BST",
        "Mon 18:00 GMT",
        "Tue 18:00 GMT",
        "Wed 18:00 GMT",
        "Thu 18:00 GMT",
    ]
    assert [run.astimezone(UTC).hour for run in runs] == [17, 18, 18, 18, 18]


def test_schedules_are_described_in_plain_words_with_their_timezone(db):
    assert (
        describe_crontab("0 18 * * 1-5", "Europe/London")
        == "At 18:00, Monday through Friday (Europe/London)"
    )
    every_hour = IntervalSchedule.objects.create(every=3600, period="seconds")
    task = PeriodicTask(name="x", task="tests.square", interval=every_hour)
    assert describe_periodic_task(task) == "Every hour"
    every_5_min = IntervalSchedule.objects.create(every=5, period="minutes")
    task = PeriodicTask(name="y", task="tests.square", interval=every_5_min)
    assert describe_periodic_task(task) == "Every 5 minutes"


def test_solar_schedules_give_the_next_sunrises_as_beat_computes_them():
    # Berlin: sunrise 04:43 CEST on the longest day, sunset 15:54 CET on the shortest.
    sunrise = SolarSchedule(event="sunrise", latitude=52.52, longitude=13.405).schedule
    runs = next_runs(sunrise, after=datetime(2026, 6, 21, tzinfo=UTC), count=2)

    assert [(run.day, run.hour, run.minute) for run in runs] == [(21, 2, 43), (22, 2, 43)]
    sunset = SolarSchedule(event="sunset", latitude=52.52, longitude=13.405).schedule
    (run,) = next_runs(sunset, after=datetime(2026, 12, 21, 12, tzinfo=UTC), count=1)
    assert (run.hour, run.minute) in {(14, 53), (14, 54)}


def test_a_solar_periodic_task_is_described_and_beat_can_schedule_it(db):
    solar = SolarSchedule.objects.create(event="dusk_civil", latitude=51.5, longitude=-0.12)
    task = PeriodicTask.objects.create(name="at dusk", task="tests.schedules.hold", solar=solar)

    assert describe_periodic_task(task) == "At civil dusk at 51.5, -0.12"
    assert len(periodic_task_next_runs(task)) == 5
    # What beat calls on every tick: it must not raise (it did without ephem).
    due, next_check = task.schedule.is_due(datetime.now(UTC))
    assert due is False
    assert next_check > 0
