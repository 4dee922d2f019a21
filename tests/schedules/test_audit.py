"""Every schedule change is audited by the services, whichever entry point made it:
the admin (the user), the default-schedules sync and a report definition (the source)."""

import pytest
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from reporting.services import report_definition_create, report_definition_save
from schedules.defaults import default_schedule_entries
from schedules.models import ScheduleChange
from schedules.services.actions import periodic_tasks_pause
from schedules.services.default_schedules import default_schedules_sync

ENTRY = {"name": "probe", "task": "schedules.sleep_probe", "interval": 300}


def _changes(name):
    return list(
        ScheduleChange.objects.filter(object_repr__startswith=name)
        .order_by("id")
        .values_list("action", "source", "user__username")
    )


def test_the_default_schedules_sync_is_audited_only_when_it_changes_something(db):
    default_schedules_sync(entries=[ENTRY])
    default_schedules_sync(entries=[ENTRY])
    default_schedules_sync(entries=[{**ENTRY, "interval": 600, "catch_up": "skip"}])

    assert _changes("probe") == [
        ("created", "sync_default_schedules", None),
        ("changed", "sync_default_schedules", None),
    ]
    changed = ScheduleChange.objects.get(action="changed")
    assert (changed.before["catch_up"], changed.after["catch_up"]) == ("run_once", "skip")
    assert changed.before["interval"] != changed.after["interval"]


def test_a_report_definitions_beat_entry_is_audited_with_the_definition_as_source(db):
    definition = report_definition_create(name="Daily sales", to_recipients="ceo@example.com")
    definition.enabled = False
    report_definition_save(definition=definition)

    source = f"report definition 'Daily sales' (#{definition.pk})"
    assert _changes("report: Daily sales") == [("created", source, None), ("changed", source, None)]
    paused = ScheduleChange.objects.get(action="changed")
    assert (paused.before["enabled"], paused.after["enabled"]) == (True, False)
    assert PeriodicTask.objects.get(pk=definition.periodic_task_id).enabled is False


@pytest.mark.parametrize("user_given", [True, False])
def test_pause_names_the_user_or_else_the_source(db, admin_user, user_given):
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(name="p", task="tests.square", interval=every, args="[2]")

    periodic_tasks_pause(
        periodic_task_ids=[task.pk], user=admin_user if user_given else None, source="a script"
    )

    assert _changes("p") == [("paused", "a script", "admin" if user_given else None)]


def test_an_admin_edit_is_audited_with_the_admin_as_source(admin_client, db):
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    url = "/admin/django_celery_beat/intervalschedule/"

    inline = {"periodictask_set-TOTAL_FORMS": "0", "periodictask_set-INITIAL_FORMS": "0"}
    response = admin_client.post(
        f"{url}{every.pk}/change/", {"every": 120, "period": "seconds", **inline}
    )
    assert response.status_code == 302
    admin_client.post(f"{url}{every.pk}/delete/", {"post": "yes"})

    assert list(
        ScheduleChange.objects.order_by("id").values_list("action", "source", "user__username")
    ) == [("changed", "admin", "admin"), ("deleted", "admin", "admin")]
    assert not IntervalSchedule.objects.exists()


def test_deleting_a_report_definition_deletes_its_beat_entry_audited(admin_client, db):
    definition = report_definition_create(
        name="Readings", kind="team_readings", to_recipients="ops@example.com"
    )
    task_id = definition.periodic_task_id

    response = admin_client.post(
        f"/admin/reporting/reportdefinition/{definition.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert not PeriodicTask.objects.filter(pk=task_id).exists()
    source = f"report definition 'Readings' (#{definition.pk})"
    assert _changes("report: Readings") == [("created", source, None), ("deleted", source, None)]
    deleted = ScheduleChange.objects.get(action="deleted")
    assert (deleted.object_id, deleted.before["task"]) == (
        str(task_id),
        "reporting.send_scheduled_report",
    )


def test_a_crontab_made_for_a_schedule_is_audited_once_and_duplicates_are_reused(db):
    """The team's default schedule needs a crontab: created once, audited; an identical
    row an admin made earlier (twice) is reused, not refused."""
    (entry,) = [e for e in default_schedule_entries() if e["task"] == "team.sync_stock"]
    default_schedules_sync(entries=[entry])
    default_schedules_sync(entries=[entry])

    crontab = CrontabSchedule.objects.get()
    assert list(
        ScheduleChange.objects.filter(object_type="crontabschedule").values_list(
            "action", "source", "object_id"
        )
    ) == [("created", "sync_default_schedules", str(crontab.pk))]

    CrontabSchedule.objects.create(
        minute="0", hour="6", day_of_month="*", month_of_year="*", day_of_week="*"
    )
    CrontabSchedule.objects.create(
        minute="0", hour="6", day_of_month="*", month_of_year="*", day_of_week="*"
    )
    default_schedules_sync(entries=[{**entry, "crontab": "0 6 * * *", "timezone": "UTC"}])
    assert PeriodicTask.objects.get(task="team.sync_stock").crontab_id == min(
        CrontabSchedule.objects.filter(hour="6").values_list("pk", flat=True)
    )


def test_deleting_a_schedule_audits_the_periodic_tasks_it_takes_with_it(admin_client, db):
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(name="uses it", task="tests.square", interval=every)

    admin_client.post(
        f"/admin/django_celery_beat/intervalschedule/{every.pk}/delete/", {"post": "yes"}
    )

    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert list(
        ScheduleChange.objects.order_by("id").values_list("action", "object_type", "object_id")
    ) == [("deleted", "periodictask", str(task.pk)), ("deleted", "intervalschedule", str(every.pk))]
