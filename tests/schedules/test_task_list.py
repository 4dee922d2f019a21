"""The periodic task list at a glance: one row per task with its schedule, next run,
enabled, overlap policy and a strip of its last 20 runs, loaded in the query that
loads the tasks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from schedules.models import ScheduleOptions, TaskRun
from schedules.selectors import periodic_tasks_with_recent_runs, run_marks

LIST_URL = "/admin/django_celery_beat/periodictask/"
STATUSES = ["succeeded", "failed", "skipped", "missed", "expired", "started"]


@pytest.fixture
def every_minute(db):
    return IntervalSchedule.objects.create(every=60, period="seconds")


def _tasks_with_history(
    count: int, interval, *, runs: int = 25, prefix: str = "task"
) -> list[PeriodicTask]:
    now = datetime.now(UTC)
    tasks = []
    for i in range(count):
        task = PeriodicTask.objects.create(
            name=f"{prefix} {i:02}", task="tests.square", interval=interval, args=f"[{i}]"
        )
        TaskRun.objects.bulk_create(
            TaskRun(
                periodic_task=task,
                task_name="tests.square",
                status=STATUSES[n % len(STATUSES)],
                queued_at=now - timedelta(minutes=runs - n),
            )
            for n in range(runs)
        )
        tasks.append(task)
    return tasks


def _list_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST_URL)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_strips_of_a_page_cost_the_same_queries_for_12_and_24_tasks(
    admin_client, every_minute, django_assert_max_num_queries
):
    _tasks_with_history(12, every_minute)
    twelve, page = _list_queries(admin_client)
    assert page.count('class="run-mark run-') == 12 * 20 + 8  # 20 per task, 8 in the legend

    _tasks_with_history(12, every_minute, prefix="more")
    with django_assert_max_num_queries(twelve):
        response = admin_client.get(LIST_URL)
    twenty_four, page = _list_queries(admin_client)

    assert twenty_four == twelve, f"{twelve} queries for 12 tasks, {twenty_four} for 24"
    # The session, the user, two counts and the tasks with their strips: what the list
    # cost before it had strips.
    assert twelve <= 5, f"{twelve} queries"
    assert response.content.decode().count('class="run-mark run-') == 24 * 20 + 8


def test_each_mark_links_to_its_run_and_says_its_outcome_and_time(admin_client, every_minute):
    task = PeriodicTask.objects.create(name="nightly", task="tests.square", interval=every_minute)
    queued = datetime(2026, 12, 7, 5, 31, 2, tzinfo=UTC)
    runs = [
        TaskRun.objects.create(
            periodic_task=task,
            task_name="tests.square",
            status=status,
            queued_at=queued + timedelta(minutes=n),
        )
        for n, status in enumerate(STATUSES)
    ]

    page = admin_client.get(LIST_URL).content.decode()

    expected = ["ok", "failed", "skipped", "missed", "expired", "running"]
    for run, css, words in zip(
        runs, expected, ["succeeded", *STATUSES[1:5], "running"], strict=True
    ):
        when = (queued + timedelta(minutes=runs.index(run))).strftime("%Y-%m-%d %H:%M:%S")
        label = f"{words} {when} UTC"
        assert (
            f'<a class="run-mark run-{css}" href="/admin/schedules/taskrun/{run.pk}/change/" '
            f'title="{label}" aria-label="{label}"></a>'
        ) in page
    # Oldest first: the succeeded run (queued first) comes before the running one.
    assert page.index(f"taskrun/{runs[0].pk}/") < page.index(f"taskrun/{runs[-1].pk}/")
    assert 'aria-label="last 6 runs, oldest first"' in page


def test_the_strip_holds_the_newest_20_runs_only(db, every_minute):
    (task,) = _tasks_with_history(1, every_minute, runs=30)
    newest = list(
        TaskRun.objects.filter(periodic_task=task)
        .order_by("-queued_at")
        .values_list("id", flat=True)[:20]
    )

    marks = run_marks(periodic_tasks_with_recent_runs(PeriodicTask.objects.all()).get())

    assert [mark.id for mark in marks] == list(reversed(newest))


def test_the_list_has_only_the_columns_that_fit_a_laptop_screen(admin_client, every_minute):
    task = PeriodicTask.objects.create(name="nightly", task="tests.square", interval=every_minute)
    ScheduleOptions.objects.create(periodic_task=task, catch_up="skip", overlap="queue_one")

    response = admin_client.get(LIST_URL)

    headers = [
        str(field) for field in response.context["cl"].list_display if field != "action_checkbox"
    ]
    assert headers == [
        "name", "schedule_in_words", "next_run", "enabled", "overlap_policy", "last_runs",
    ]  # fmt: skip
    page = response.content.decode()
    assert "Every minute" in page
    assert "queue one" in page
    assert "never run" in page
    # Catch-up and owner are filters (and fields of the change page), not columns.
    assert "By catch up" in page or "catch up" in page.lower()


def test_quiet_and_paused_tasks_say_so_in_a_few_words(admin_client, every_minute, settings):
    settings.SCHEDULES_HISTORY_EXCLUDE = ["team.tally"]
    PeriodicTask.objects.create(name="quiet", task="team.tally", interval=every_minute)
    failing = PeriodicTask.objects.create(
        name="failing", task="team.tally", interval=every_minute, kwargs='{"key": "f"}'
    )
    TaskRun.objects.create(
        periodic_task=failing, task_name="team.tally", status="failed", queued_at=datetime.now(UTC)
    )
    paused = PeriodicTask.objects.create(
        name="paused", task="tests.square", interval=every_minute, enabled=False
    )
    ScheduleOptions.objects.create(
        periodic_task=paused, pause_after_failures=3, paused_for_failures_at=datetime.now(UTC)
    )

    page = admin_client.get(LIST_URL).content.decode()

    assert '<span class="run-note">no failure recorded</span>' in page
    assert '<span class="run-note">failures only</span>' in page
    assert '<span class="run-note">paused after 3 failures</span>' in page


def test_the_change_page_shows_the_strip_too(admin_client, every_minute):
    (task,) = _tasks_with_history(1, every_minute, runs=3)

    page = admin_client.get(f"{LIST_URL}{task.pk}/change/").content.decode()

    assert page.count('class="run-mark run-') == 3
    assert "schedules/run_strip.css" in page
