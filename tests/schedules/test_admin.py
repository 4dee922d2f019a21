"""The periodic task admin as a user sees it: validation on the form, plain words,
next runs, last run columns, actions and the audit trail."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from schedules.models import ScheduleChange, ScheduleOptions, TaskRun
from tests.schedules.probe_tasks import hold
from tests.support.processes import wait_for

ADD_URL = "/admin/django_celery_beat/periodictask/add/"
LIST_URL = "/admin/django_celery_beat/periodictask/"


@pytest.fixture
def every_minute(db):
    return IntervalSchedule.objects.create(every=60, period="seconds")


def _form(interval, **overrides):
    data = {
        "name": "nightly",
        "regtask": "",
        "task": "tests.schedules.hold",
        "enabled": "on",
        "description": "",
        "interval": interval.pk,
        "crontab": "",
        "solar": "",
        "clocked": "",
        "start_time_0": "",
        "start_time_1": "",
        "catch_up": "run_once",
        "overlap": "skip",
        "pause_after_failures": "",
        "args": '["k"]',
        "kwargs": '{"seconds": 1}',
        "expires_0": "",
        "expires_1": "",
        "expire_seconds": "",
        "queue": "",
        "exchange": "",
        "routing_key": "",
        "priority": "",
        "headers": "{}",
    }
    data.update(overrides)
    return data


def _field_errors(response, field):
    return [str(error) for error in response.context["adminform"].form.errors.get(field, [])]


def test_a_valid_periodic_task_is_saved_with_its_catch_up_policy_and_audited(
    admin_client, every_minute
):
    response = admin_client.post(ADD_URL, _form(every_minute, catch_up="skip"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    task = PeriodicTask.objects.get(name="nightly")
    assert task.schedule_options.catch_up == "skip"
    change = ScheduleChange.objects.get(action="created")
    assert change.user.username == "admin"
    assert change.after["task"] == "tests.schedules.hold"
    assert change.after["catch_up"] == "skip"


def test_an_unregistered_task_name_is_refused_next_to_the_task_field(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute, task="tests.schedules.nope"))

    assert response.status_code == 200
    assert (
        "No registered Celery task is called 'tests.schedules.nope'"
        in _field_errors(response, "task")[0]
    )


def test_args_that_are_not_a_json_list_are_refused_next_to_args(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute, args='{"a": 1}'))

    assert _field_errors(response, "args") == [
        'Must be a JSON list, for example ["a", 2], got dict.'
    ]


def test_args_that_are_not_json_are_refused_next_to_args(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute, args="[1,"))

    assert _field_errors(response, "args")[0].startswith("Not valid JSON")


def test_kwargs_that_are_not_a_json_object_are_refused_next_to_kwargs(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute, kwargs="[1]"))

    assert _field_errors(response, "kwargs")[0].startswith("Must be a JSON object")


def test_kwargs_the_task_does_not_take_are_refused_next_to_kwargs(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute, kwargs='{"colour": "red"}'))

    error = _field_errors(response, "kwargs")[0]
    assert "Does not match tests.schedules.hold(key: str, seconds: float = 0.0" in error
    assert "unexpected keyword argument 'colour'" in error


def test_a_missing_required_argument_is_refused(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute, args="[]", kwargs="{}"))

    assert "missing a required argument: 'key'" in _field_errors(response, "kwargs")[0]


def test_too_many_positional_args_are_refused_next_to_args(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute, args='["k", 1, true, 4]'))

    assert "too many positional arguments" in _field_errors(response, "args")[0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("minute", "61", "minute"),
        ("hour", "*/0", "hour"),
        ("day_of_week", "mon-funday", "day of week"),
        ("day_of_month", "32", "day of month"),
        ("month_of_year", "13", "month of year"),
    ],
)
def test_an_invalid_crontab_field_is_refused_next_to_that_field(
    admin_client, field, value, message
):
    data = {
        "minute": "0",
        "hour": "18",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "1-5",
        "timezone": "Europe/London",
    }
    data[field] = value

    response = admin_client.post("/admin/django_celery_beat/crontabschedule/add/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert set(errors) == {field}


def test_the_change_page_says_the_schedule_in_plain_words_with_five_next_runs(admin_client, db):
    crontab = CrontabSchedule.objects.create(
        minute="0", hour="18", day_of_week="1-5", timezone="Europe/London"
    )
    task = PeriodicTask.objects.create(
        name="eod", task="tests.schedules.hold", crontab=crontab, args='["eod"]'
    )

    response = admin_client.get(f"{LIST_URL}{task.pk}/change/")

    page = response.content.decode()
    assert "At 18:00, Monday through Friday (Europe/London)" in page
    assert page.count(" 18:00 GMT") + page.count(" 18:00 BST") == 5
    assert "not locked" in page
    assert "Catch-up policy" in page


def test_the_list_shows_the_run_strip_next_run_and_policy_without_n_plus_one(
    admin_client, every_minute, django_assert_max_num_queries
):
    now = datetime.now(UTC)
    for i in range(30):
        task = PeriodicTask.objects.create(
            name=f"t{i}", task="tests.square", interval=every_minute, args=f"[{i}]"
        )
        ScheduleOptions.objects.create(periodic_task=task, catch_up="skip")
        TaskRun.objects.create(
            periodic_task=task,
            task_name="tests.square",
            status="failed",
            queued_at=now - timedelta(minutes=5),
            duration=timedelta(seconds=3),
        )
        TaskRun.objects.create(
            periodic_task=task,
            task_name="tests.square",
            status="succeeded",
            queued_at=now,
            duration=timedelta(seconds=2.5),
        )

    with django_assert_max_num_queries(12):
        response = admin_client.get(LIST_URL)

    page = response.content.decode()
    assert page.count('class="run-mark run-ok"') == 30 + 1  # one per task, one in the legend
    assert page.count('class="run-mark run-failed"') == 30 + 1
    assert "Every minute" in page
    # The catch-up policy is a filter now, and a field of the change page.
    assert "?schedule_options__catch_up__exact=skip" in page


def test_pause_and_resume_are_audited_with_before_and_after(admin_client, every_minute):
    task = PeriodicTask.objects.create(
        name="p", task="tests.square", interval=every_minute, args="[2]"
    )

    admin_client.post(LIST_URL, {"action": "pause_tasks", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.enabled is False
    admin_client.post(LIST_URL, {"action": "resume_tasks", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.enabled is True

    paused, resumed = ScheduleChange.objects.order_by("id")
    assert (paused.action, paused.before["enabled"], paused.after["enabled"]) == (
        "paused",
        True,
        False,
    )
    assert (resumed.action, resumed.before["enabled"], resumed.after["enabled"]) == (
        "resumed",
        False,
        True,
    )
    page = admin_client.get("/admin/schedules/schedulechange/").content.decode()
    assert "enabled: False → True" in page


def test_editing_a_schedule_records_who_changed_what(admin_client, every_minute):
    response = admin_client.post(ADD_URL, _form(every_minute))
    task = PeriodicTask.objects.get(name="nightly")
    response = admin_client.post(
        f"{LIST_URL}{task.pk}/change/", _form(every_minute, kwargs='{"seconds": 5}')
    )
    assert response.status_code == 302

    change = ScheduleChange.objects.get(action="changed")
    assert change.before["kwargs"] == '{"seconds": 1}'
    assert change.after["kwargs"] == '{"seconds": 5}'


def test_the_change_page_preselects_the_task_in_the_registered_dropdown(admin_client, every_minute):
    admin_client.post(ADD_URL, _form(every_minute))
    task = PeriodicTask.objects.get(name="nightly")

    form = admin_client.get(f"{LIST_URL}{task.pk}/change/").context["adminform"].form

    assert form["regtask"].value() == "tests.schedules.hold"
    assert '<option value="tests.schedules.hold" selected>' in str(form["regtask"])


def test_a_task_name_typed_under_the_preselected_dropdown_is_the_one_saved(
    admin_client, every_minute
):
    admin_client.post(ADD_URL, _form(every_minute))
    task = PeriodicTask.objects.get(name="nightly")
    change_url = f"{LIST_URL}{task.pk}/change/"

    # The browser posts the preselected dropdown back with the newly typed name.
    typed = _form(
        every_minute,
        regtask="tests.schedules.hold",
        task="schedules.reap_lost_runs",
        args="[]",
        kwargs="{}",
    )
    assert admin_client.post(change_url, typed).status_code == 302
    task.refresh_from_db()
    assert task.task == "schedules.reap_lost_runs"

    # Picking from the dropdown still wins over the text box, as in django-celery-beat.
    picked = _form(every_minute, regtask="tests.schedules.hold", task="schedules.reap_lost_runs")
    assert admin_client.post(change_url, picked).status_code == 302
    task.refresh_from_db()
    assert task.task == "tests.schedules.hold"


def test_run_now_and_lock_release_need_their_own_permission(client, every_minute):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_periodictask", "change_periodictask"])
    )
    client.force_login(staff)
    task = PeriodicTask.objects.create(
        name="r", task="tests.square", interval=every_minute, args="[2]"
    )

    page = client.get(LIST_URL).content.decode()
    assert "pause_tasks" in page
    assert "run_now" not in page
    assert "release_lock" not in page
    response = client.post(LIST_URL, {"action": "run_now", "_selected_action": [task.pk]})
    assert not TaskRun.objects.exists()
    assert response.status_code in (200, 302)


def test_non_staff_users_cannot_reach_the_admin(client, db):
    user = User.objects.create_user("someone", password="pw")
    client.force_login(user)

    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_run_now_while_running_says_since_when_instead_of_an_error_page(
    admin_client, every_minute, clean_redis, transactional_db
):
    task = PeriodicTask.objects.create(
        name="busy", task="tests.schedules.hold", interval=every_minute, args='["busy"]'
    )
    first = hold.apply_async(["busy"])  # no worker: it stays queued and holds the lock

    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )

    assert response.status_code == 200
    text = " ".join(str(message) for message in response.context["messages"])
    assert "busy is already queued since" in text
    assert first.id in text
    skipped = TaskRun.objects.get(status="skipped")
    assert skipped.periodic_task == task
    assert skipped.trigger == "manual"
    assert skipped.queued_by == "admin"

    response = admin_client.post(
        LIST_URL, {"action": "show_lock_holder", "_selected_action": [task.pk]}, follow=True
    )
    assert f"held by run {first.id}" in " ".join(str(m) for m in response.context["messages"])

    response = admin_client.post(
        LIST_URL, {"action": "release_lock", "_selected_action": [task.pk]}, follow=True
    )
    assert "released the lock" in " ".join(str(m) for m in response.context["messages"])
    assert ScheduleChange.objects.filter(action="lock_released").exists()

    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )
    assert "busy queued now" in " ".join(str(m) for m in response.context["messages"])
    run = TaskRun.objects.get(status="queued", trigger="manual", periodic_task=task)
    assert json.loads(task.args) == ["busy"]
    assert run.queued_by == "admin"


def test_the_history_list_filters_by_status_task_and_date(admin_client, db):
    now = datetime.now(UTC)
    TaskRun.objects.create(task_name="a.one", status="failed", queued_at=now, error="Boom!")
    TaskRun.objects.create(task_name="b.two", status="succeeded", queued_at=now)
    url = "/admin/schedules/taskrun/"

    assert "Boom!" in admin_client.get(url, {"status__exact": "failed"}).content.decode()
    assert "Boom!" not in admin_client.get(url, {"status__exact": "succeeded"}).content.decode()
    assert "Boom!" not in admin_client.get(url, {"task_name": "b.two"}).content.decode()
    # What the "Today" link of the date filter sends.
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    page = admin_client.get(url, {"queued_at__gte": str(today)}).content.decode()
    assert "Boom!" in page


def test_run_now_while_the_job_runs_on_a_worker_says_running_since(celery_worker, admin_client):
    every_minute = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(
        name="long", task="tests.schedules.hold", interval=every_minute, args='["long", 3]'
    )
    admin_client.post(LIST_URL, {"action": "run_now", "_selected_action": [task.pk]})
    wait_for(
        lambda: TaskRun.objects.filter(periodic_task=task, status="started").exists(),
        timeout=10,
        message="the first run started",
    )

    response = admin_client.post(
        LIST_URL, {"action": "run_now", "_selected_action": [task.pk]}, follow=True
    )

    text = " ".join(str(message) for message in response.context["messages"])
    assert "long is already running since" in text
    wait_for(
        lambda: TaskRun.objects.filter(periodic_task=task, status="succeeded").exists(),
        timeout=10,
        message="the first run finished",
    )
    statuses = sorted(TaskRun.objects.filter(periodic_task=task).values_list("status", flat=True))
    assert statuses == ["skipped", "succeeded"]


def test_all_runs_link_on_the_change_page_lists_that_tasks_history(admin_client, every_minute):
    task = PeriodicTask.objects.create(
        name="linked", task="tests.square", interval=every_minute, args="[1]"
    )
    other = PeriodicTask.objects.create(
        name="other", task="tests.square", interval=every_minute, args="[2]"
    )
    now = datetime.now(UTC)
    TaskRun.objects.create(
        periodic_task=task, task_name="tests.square", status="failed", queued_at=now, error="Mine!"
    )
    TaskRun.objects.create(
        periodic_task=other,
        task_name="tests.square",
        status="failed",
        queued_at=now,
        error="Theirs!",
    )

    page = admin_client.get(f"{LIST_URL}{task.pk}/change/").content.decode()
    assert "Mine!" in page
    history = admin_client.get(
        "/admin/schedules/taskrun/", {"periodic_task__id__exact": task.pk}
    ).content.decode()

    assert "Mine!" in history
    assert "Theirs!" not in history


def test_editing_a_crontab_in_the_admin_is_audited_and_described(admin_client):
    crontab = CrontabSchedule.objects.create(
        minute="0", hour="18", day_of_week="1-5", timezone="Europe/London"
    )
    url = f"/admin/django_celery_beat/crontabschedule/{crontab.pk}/change/"
    data = {
        "minute": "30",
        "hour": "7",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "*",
        "timezone": "America/New_York",
        # The page's inline of periodic tasks using this crontab (none here).
        "periodictask_set-TOTAL_FORMS": "0",
        "periodictask_set-INITIAL_FORMS": "0",
    }

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    change = ScheduleChange.objects.get(object_type="crontabschedule")
    assert (change.action, change.before["hour"], change.after["hour"]) == ("changed", "18", "7")
    assert change.after["timezone"] == "America/New_York"
    assert "At 07:30 (America/New_York)" in admin_client.get(url).content.decode()
