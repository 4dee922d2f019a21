"""The scheduler's decisions for crontab schedules, without waiting for wall-clock minutes."""

from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from schedules.models import ScheduleOptions, TaskRun
from schedules.scheduler import PlatformScheduler, due_slots


@pytest.fixture
def scheduler(celery_app, clean_redis, db):
    return PlatformScheduler(app=celery_app, lazy=True)


def _entry(celery_app, expression: str, *, last_run_at: datetime, catch_up: str) -> ModelEntry:
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    crontab = CrontabSchedule.objects.create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    task = PeriodicTask.objects.create(
        name=f"cron {expression} {catch_up}",
        task="tests.square",
        crontab=crontab,
        args="[1]",
        last_run_at=last_run_at,
    )
    ScheduleOptions.objects.create(periodic_task=task, catch_up=catch_up)
    return ModelEntry(task, app=celery_app)


def test_due_slots_counts_every_crontab_due_time_missed():
    schedule = CrontabSchedule(minute="*/15", timezone="UTC").schedule
    last = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    now = datetime(2026, 11, 22, 4, 7, tzinfo=UTC)

    first, latest, count = due_slots(schedule, last_run_at=last, now=now)

    assert (first, latest, count) == (
        datetime(2026, 11, 22, 3, 15, tzinfo=UTC),
        datetime(2026, 11, 22, 4, 0, tzinfo=UTC),
        4,
    )


def test_a_crontab_due_time_is_sent_once_even_when_two_beats_decide_on_it(celery_app, scheduler):
    entry = _entry(
        celery_app,
        "* * * * *",
        last_run_at=datetime.now(UTC) - timedelta(seconds=61),
        catch_up="run_once",
    )
    other_beat = PlatformScheduler(app=celery_app, lazy=True)

    assert scheduler._decide(entry) is True
    assert other_beat._decide(entry) is False


def test_skip_policy_drops_an_hour_of_missed_crontab_runs_and_records_them(celery_app, scheduler):
    # Due every hour, half an hour ago: no due time is on time now.
    minute = (datetime.now(UTC).minute + 30) % 60
    entry = _entry(
        celery_app,
        f"{minute} * * * *",
        last_run_at=datetime.now(UTC) - timedelta(hours=5),
        catch_up="skip",
    )

    assert scheduler._decide(entry) is False

    missed = TaskRun.objects.get(status="missed")
    assert missed.error.split(" ")[0] == "5"
    assert "catch-up policy is skip" in missed.error


def test_run_once_policy_sends_one_run_for_many_missed_crontab_due_times(celery_app, scheduler):
    entry = _entry(
        celery_app,
        "7 * * * *",
        last_run_at=datetime.now(UTC) - timedelta(hours=5),
        catch_up="run_once",
    )

    assert scheduler._decide(entry) is True
    assert not TaskRun.objects.filter(status="missed").exists()


def test_a_due_run_beat_cannot_send_because_redis_is_unreachable_is_recorded_missed(
    transactional_db, celery_app, scheduler, monkeypatch
):
    # transactional_db: beat closes its database connection after a failed send.
    import celery_once.backends.redis as once_redis
    import redis

    from tests.support.network import free_port

    # A real Redis client on a port nobody listens on: the claim and the overlap lock
    # both get "connection refused", as when Redis is down.
    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    monkeypatch.setattr(scheduler, "_claims", dead)
    monkeypatch.setattr(once_redis, "redis", dead)
    entry = _entry(
        celery_app,
        "* * * * *",
        last_run_at=datetime.now(UTC) - timedelta(seconds=61),
        catch_up="run_once",
    )

    scheduler.apply_entry(entry)

    missed = TaskRun.objects.get(periodic_task_id=entry.model.pk)
    assert missed.status == "missed"
    # Dated at the due time it stands for (one, or two if a minute turned meanwhile).
    assert missed.error.split(" due time(s) missed from ")[0] in {"1", "2"}
    assert (missed.queued_at.second, missed.queued_at.microsecond) == (0, 0)  # on the minute
    assert "not sent: ConnectionError" in missed.error


def _interval_entry(celery_app, *, last_run_at: datetime) -> ModelEntry:
    from django_celery_beat.models import IntervalSchedule

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    task = PeriodicTask.objects.create(
        name="every second", task="tests.square", interval=every_second, args="[1]",
        last_run_at=last_run_at,
    )  # fmt: skip
    return ModelEntry(task, app=celery_app)


def test_due_times_beat_was_too_blocked_to_send_are_recorded_missed_beside_the_one_sent(
    celery_app, scheduler
):
    # Beat stood still for 10 s (Redis did not answer): ten due times, one send now.
    entry = _interval_entry(celery_app, last_run_at=datetime.now(UTC) - timedelta(seconds=10))

    assert scheduler._decide(entry) is True

    missed = TaskRun.objects.get(periodic_task_id=entry.model.pk)
    assert missed.status == "missed"
    assert missed.error.split(" ")[0] in {"9", "10"}
    assert "beat could not send them in time" in missed.error


def test_a_due_time_a_killed_beat_sent_is_not_recorded_missed_by_its_successor(
    celery_app, scheduler
):
    # The killed beat sent the run due 8 s ago but never saved last_run_at (10 s ago).
    now = datetime.now(UTC)
    entry = _interval_entry(celery_app, last_run_at=now - timedelta(seconds=10))
    TaskRun.objects.create(
        task_name="tests.square", periodic_task_id=entry.model.pk, status="succeeded",
        trigger="beat", queued_at=now - timedelta(seconds=8, milliseconds=-50),
    )  # fmt: skip

    assert scheduler._decide(entry) is True

    missed = TaskRun.objects.get(periodic_task_id=entry.model.pk, status="missed")
    # Only the due times after the sent one, less the one sent now: 6 or 7, not 9.
    assert missed.error.split(" ")[0] in {"6", "7"}, missed.error
    assert missed.queued_at > now - timedelta(seconds=8)


def test_a_beat_only_a_little_late_records_nothing(celery_app, scheduler):
    entry = _interval_entry(celery_app, last_run_at=datetime.now(UTC) - timedelta(seconds=2))

    assert scheduler._decide(entry) is True
    assert not TaskRun.objects.exists()


def test_due_times_of_a_late_send_beat_could_not_claim_are_recorded_missed_too(
    transactional_db, celery_app, scheduler, monkeypatch
):
    import redis

    from tests.support.network import free_port

    # Beat stood still for 10 s on a Redis that is down: the claim fails, the send goes
    # out unclaimed (Redis is back for it, here: the real broker), the rest is missed.
    monkeypatch.setattr(scheduler, "_claims", redis.Redis(host="127.0.0.1", port=free_port()))
    entry = _interval_entry(celery_app, last_run_at=datetime.now(UTC) - timedelta(seconds=10))

    scheduler.apply_entry(entry)

    missed = TaskRun.objects.get(periodic_task_id=entry.model.pk, status="missed")
    assert int(missed.error.split(" ")[0]) >= 9  # and those while the claim was tried
    assert "beat could not send them in time" in missed.error


def test_due_times_a_beat_recorded_missed_but_died_before_sending_are_recorded_once(
    celery_app, scheduler
):
    # The first beat recorded ten late due times as missed, then was killed before its
    # send (and before saving last_run_at): its successor sees the same due times.
    from schedules.scheduler import CLAIM_PREFIX

    entry = _interval_entry(celery_app, last_run_at=datetime.now(UTC) - timedelta(seconds=10))
    assert scheduler._decide(entry) is True
    scheduler._claims.delete(f"{CLAIM_PREFIX}:{entry.model.pk}")  # expired with its beat
    successor = PlatformScheduler(app=celery_app, lazy=True)

    assert successor._decide(ModelEntry(entry.model, app=celery_app)) is True

    missed = TaskRun.objects.get(periodic_task_id=entry.model.pk, status="missed")
    assert int(missed.error.split(" ")[0]) >= 9, missed.error


def test_a_late_send_that_fails_records_its_due_times_missed_once_all_of_them(
    transactional_db, celery_app, scheduler, monkeypatch
):
    import celery_once.backends.redis as once_redis
    import redis

    from tests.support.network import free_port

    # Redis down: the claim fails (the late due times are recorded for the send), then
    # the send fails too, so it stands for none of them.
    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    monkeypatch.setattr(scheduler, "_claims", dead)
    monkeypatch.setattr(once_redis, "redis", dead)
    entry = _interval_entry(celery_app, last_run_at=datetime.now(UTC) - timedelta(seconds=10))

    scheduler.apply_entry(entry)

    missed = TaskRun.objects.get(periodic_task_id=entry.model.pk)
    assert missed.status == "missed"
    assert int(missed.error.split(" ")[0]) >= 10, missed.error
    assert "not sent: ConnectionError" in missed.error
