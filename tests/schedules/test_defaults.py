"""Default schedules as code: created or updated by name, marked platform-owned,
admins' own schedules and last-run times untouched."""

import re
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from schedules import defaults
from schedules.models import ScheduleOptions
from schedules.services.default_schedules import default_schedules_sync
from schedules.tasks import sleep_probe

ENTRIES = [
    {"name": "probe", "task": "schedules.sleep_probe", "interval": 300, "kwargs": {"seconds": 0}},
    {
        "name": "nightly probe",
        "task": "schedules.sleep_probe",
        "crontab": "0 2 * * *",
        "timezone": "Europe/London",
        "catch_up": "skip",
    },
]


def test_sync_creates_then_leaves_the_defaults_unchanged_and_marks_them_platform_owned(db):
    assert default_schedules_sync(entries=ENTRIES) == {"created": 2, "updated": 0, "unchanged": 0}
    assert default_schedules_sync(entries=ENTRIES) == {"created": 0, "updated": 0, "unchanged": 2}

    nightly = PeriodicTask.objects.get(name="nightly probe")
    assert nightly.schedule_options.platform_owned is True
    assert nightly.schedule_options.catch_up == "skip"
    assert nightly.crontab.timezone.key == "Europe/London"


def test_sync_keeps_an_admins_schedules_enabled_flag_and_last_run(db):
    every = IntervalSchedule.objects.create(every=10, period="seconds")
    mine = PeriodicTask.objects.create(name="mine", task="tests.square", interval=every, args="[3]")
    default_schedules_sync(entries=ENTRIES)
    probe = PeriodicTask.objects.get(name="probe")
    last_run = datetime(2026, 11, 1, tzinfo=UTC)
    PeriodicTask.objects.filter(pk=probe.pk).update(enabled=False, last_run_at=last_run)

    changed = [{**ENTRIES[0], "interval": 600}, ENTRIES[1]]
    assert default_schedules_sync(entries=changed)["updated"] == 1

    probe.refresh_from_db()
    assert probe.interval.every == 600
    assert probe.enabled is False
    mine.refresh_from_db()
    assert mine.args == "[3]"
    assert not ScheduleOptions.objects.filter(periodic_task=mine).exists()


def test_the_command_reports_what_it_did(db, capsys):
    call_command("sync_default_schedules")
    call_command("sync_default_schedules")

    assert "0 created, 0 updated" in capsys.readouterr().out


def test_sleep_probe_run_twice_leaves_the_same_state(db):
    assert sleep_probe.run(seconds=0) == 0
    assert sleep_probe.run(seconds=0) == 0


def test_the_reaper_and_the_history_prune_are_default_schedules(db):
    from schedules.defaults import default_schedule_entries

    default_schedules_sync()

    reaper = PeriodicTask.objects.get(name="schedules: reap lost runs")
    assert reaper.task == "schedules.reap_lost_runs"
    assert reaper.interval.every == 60
    assert reaper.schedule_options.platform_owned is True
    prune = PeriodicTask.objects.get(name="schedules: prune history")
    assert prune.task == "schedules.prune_history"
    assert prune.crontab.minute == "47"
    tasks = {entry["task"] for entry in default_schedule_entries()}
    assert {"schedules.reap_lost_runs", "schedules.prune_history"} <= tasks


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"interval": 60, "crontab": "0 2 * * *"}, "exactly one of interval"),
        ({}, "exactly one of interval"),
        ({"crontab": "0 25 * * *"}, "crontab hour '25'"),
        ({"crontab": "0 2 * *"}, "crontab needs 5 fields"),
        ({"interval": 0}, "interval must be a whole number"),
        ({"interval": 60, "catch_up": "later"}, "catch_up must be one of run_once, skip"),
        ({"interval": 60, "intervall": 5}, "unknown field(s) intervall"),
        ({"crontab": "0 2 * * *", "timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"interval": 60, "overlap": "sometimes"}, "overlap must be one of skip, queue_one, allow"),
        ({"interval": 60, "pause_after_failures": 0}, "pause_after_failures must be a whole"),
    ],
)
def test_a_default_schedule_beat_cannot_honour_is_refused_at_registration(fields, message):
    with pytest.raises(defaults.InvalidDefaultSchedule, match=re.escape(message)) as refused:
        defaults.register(name="bad one", task="schedules.sleep_probe", **fields)
    assert "default schedule 'bad one'" in str(refused.value)


def test_both_forms_of_periodic_py_are_read(db):
    # schedules/periodic.py calls register(); batches/periodic.py sets DEFAULT_SCHEDULES.
    names = {entry["name"] for entry in defaults.default_schedule_entries()}

    assert {"schedules: reap lost runs", "imports: scan inbox"} <= names


def test_a_teams_default_schedule_brings_its_overlap_policy_and_pause_on_failure(db):
    # tests/team/periodic.py registers it, as a team would.
    default_schedules_sync()

    options = PeriodicTask.objects.get(name="team: nightly stock sync").schedule_options
    assert (options.overlap, options.pause_after_failures) == ("queue_one", 3)
    heartbeat = PeriodicTask.objects.get(name="ops: heartbeat default").schedule_options
    assert heartbeat.overlap == "allow"
