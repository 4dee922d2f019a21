"""Django's task API on the platform's Celery workers (schedules.tasks_backend), through
the team's standard-API tasks (tests/team/standard_tasks.py), with a real worker on
real Redis and PostgreSQL. Django's own backend expectations (tests/tasks in Django,
tests/tests in the django-tasks backport) are asserted here where a backend that runs
elsewhere can meet them; Django's ImmediateBackend is the oracle for results.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schedules.tasks_backend import CeleryBackend, api
from tests.support.processes import wait_for
from tests.team import standard_tasks as team
from tests.team.models import Station

IMMEDIATE = (
    "django.tasks.backends.immediate.ImmediateBackend"
    if api.BaseTaskBackend.__module__.startswith("django.tasks")
    else "django_tasks.backends.immediate.ImmediateBackend"
)
OURS = "schedules.tasks_backend.CeleryBackend"


def finished(result, timeout: float = 20):
    """Refresh the result through Django's API until the run has finished."""
    wait_for(lambda: result.refresh() or result.is_finished, timeout=timeout, message="a result")
    return result


def test_the_backend_answers_djangos_questions_truthfully(settings):
    backend = api.task_backends["default"]
    assert isinstance(backend, CeleryBackend)
    assert (backend.supports_defer, backend.supports_async_task) == (True, True)
    assert (backend.supports_get_result, backend.supports_priority) == (True, True)
    assert backend.queues == set(settings.PLATFORM_QUEUES)


def test_an_enqueued_task_runs_on_a_worker_and_reads_back_through_djangos_api(celery_worker):
    result = team.tally.enqueue("api")
    assert result.status == api.TaskResultStatus.READY
    assert result.enqueued_at is not None  # no transaction: sent at once

    finished(result)
    assert result.status == api.TaskResultStatus.SUCCESSFUL
    assert result.return_value == 1
    assert (result.args, result.kwargs, result.attempts) == (["api"], {}, 1)
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.last_attempted_at == result.started_at
    assert len(result.worker_ids) == 1  # the worker host that ran it

    again = team.tally.get_result(result.id)
    assert again.task == team.tally
    assert (again.status, again.return_value, again.id) == (result.status, 1, result.id)
    assert api.task_backends["default"].get_result(result.id).return_value == 1
    assert async_to_sync(team.tally.aget_result)(result.id).return_value == 1


def test_aenqueue_and_an_async_task_run_on_the_worker(celery_worker):
    result = async_to_sync(team.meaning_of_life_async.aenqueue)()
    assert finished(result).return_value == 42
    async_to_sync(result.arefresh)()
    assert result.status == api.TaskResultStatus.SUCCESSFUL


def test_an_unknown_result_id_does_not_exist_and_another_tasks_result_is_refused(celery_worker):
    with pytest.raises(api.TaskResultDoesNotExist):
        team.tally.get_result("no-such-run")
    other = finished(team.meaning_of_life.enqueue())
    with pytest.raises(api.TaskResultMismatch, match="Task does not match"):
        team.tally.get_result(other.id)


def test_a_task_enqueued_in_a_transaction_is_sent_when_it_commits(celery_worker):
    with transaction.atomic():
        Station.objects.create(code="KSEA", name="Seattle")
        result = team.station_name.enqueue("KSEA")
        assert result.enqueued_at is None
        with pytest.raises(api.TaskResultDoesNotExist):
            api.task_backends["default"].get_result(result.id)
        time.sleep(0.5)  # a worker that got the message now would not find the row
    assert result.enqueued_at is not None
    assert finished(result).return_value == "Seattle"


def test_a_task_enqueued_in_a_rolled_back_transaction_is_never_sent(celery_worker):
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            sent.append(team.tally.enqueue("rolled back"))
            raise RuntimeError("roll back")

    sent: list = []
    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    [result] = sent
    time.sleep(1)
    with pytest.raises(api.TaskResultDoesNotExist):
        api.task_backends["default"].get_result(result.id)


def test_a_team_view_enqueues_and_the_worker_finds_the_row_it_wrote(
    celery_worker, admin_client, settings
):
    settings.ROOT_URLCONF = "tests.team.urls"
    response = admin_client.post("/stations/", {"code": "EGLL", "name": "Heathrow"})
    assert response.status_code == 202
    result = team.station_name.get_result(response.json()["result_id"])
    assert finished(result).return_value == "Heathrow"


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        ([datetime(2026, 1, 1, tzinfo=UTC)], {}, "args[0] is a datetime.datetime"),
        ([], {"key": {1: "one"}}, "kwargs['key'] has the key 1"),
        ([[1.0, math.nan]], {}, "args[0][1] is nan"),
        ([], {"key": {"station": Station(code="X")}}, "kwargs['key']['station'] is a tests.team"),
    ],
)
def test_arguments_that_are_not_json_are_refused_at_enqueue_naming_where(
    db, clean_redis, args, kwargs, where
):
    with pytest.raises(TypeError, match=r"tests\.team\.standard_tasks\.noop\.enqueue\(\): ") as e:
        team.noop.enqueue(*args, **kwargs)
    assert where in str(e.value)
    assert not [k for k in clean_redis.scan_iter() if not k.startswith(b"_kombu")], "sent"


def test_django_refuses_the_same_non_json_argument(settings):
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    with pytest.raises(TypeError):
        team.noop.enqueue(datetime(2026, 1, 1, tzinfo=UTC))


def test_a_queue_no_worker_consumes_is_refused_by_the_task_and_by_the_system_check(settings):
    with pytest.raises(api.InvalidTask, match="Queue 'nowhere' is not valid"):
        team.tally.using(queue_name="nowhere")
    settings.TASKS = {"default": {"BACKEND": OURS, "QUEUES": ["default", "nowhere"]}}
    with pytest.raises(SystemCheckError, match=r"schedules\.E002.*'nowhere'"):
        call_command("check")
    settings.TASKS = {"default": {"BACKEND": OURS, "QUEUES": []}}
    with pytest.raises(SystemCheckError, match=r"schedules\.E002.*QUEUES'\] is empty"):
        call_command("check")
    settings.TASKS = {"default": {"BACKEND": OURS, "OPTIONS": {"RETRIES": 3}}}
    with pytest.raises(SystemCheckError, match=r"schedules\.E003.*RETRIES"):
        call_command("check")
    settings.TASKS = {"default": {"BACKEND": OURS, "QUEUES": ["default", "reports"]}}
    call_command("check")


def test_run_after_defers_the_run_and_one_past_the_visibility_timeout_is_refused(
    celery_worker, settings
):
    run_after = datetime.now(UTC) + timedelta(seconds=2)
    result = team.tally.using(run_after=run_after).enqueue("later")
    assert finished(result).started_at >= run_after
    assert result.task.run_after == run_after
    too_late = datetime.now(UTC) + timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT + 60)
    with pytest.raises(api.InvalidTask, match="more than CELERY_VISIBILITY_TIMEOUT"):
        team.tally.using(run_after=too_late)
    with pytest.raises(api.InvalidTask, match="aware"):
        team.tally.using(run_after=datetime(2030, 1, 1))


def test_a_higher_priority_run_waiting_in_the_queue_runs_first(worker_process, redis_client):
    low = team.lined_up.using(priority=-100).enqueue("order", "low")
    middle = team.lined_up.enqueue("order", "middle")  # the task's own -50
    high = team.lined_up.using(priority=0).enqueue("order", "high")
    worker_process(queues="reports", concurrency=1)
    for result in (low, middle, high):
        finished(result, timeout=30)
    assert redis_client.lrange("team:order:order", 0, -1) == [b"high", b"middle", b"low"]
    assert high.task.queue_name == "reports"


def test_a_task_taking_context_sees_its_own_result_and_attempt(celery_worker):
    result = team.own_id.enqueue()
    assert finished(result).return_value == result.id
    result = team.attempt_and_arguments.enqueue(7, word="w")
    assert finished(result).return_value == [1, 7, "w", [7], {"word": "w"}]


# The oracle: the same task, the same arguments, through Django's ImmediateBackend and
# through ours: the same result object (status, return value, errors).
CASES = [
    (team.meaning_of_life, [], {}),
    (team.meaning_of_life_async, [], {}),
    (team.noop, [1, (2, 3)], {"two": {"three": [None, True, 1.5]}}),
    (team.attempt_and_arguments, [7], {"word": "w"}),
    (team.failing_value_error, [], {}),
    (team.failing_system_exit, [], {}),
    (team.complex_exception, [], {}),
    (team.complex_return_value, [], {}),
]


def _comparable(result) -> dict:
    errors = [
        (error.exception_class, error.traceback.strip().splitlines()[-1]) for error in result.errors
    ]
    return {
        "status": result.status,
        "return_value": result.return_value if result.status == "SUCCESSFUL" else None,
        "errors": errors,
        "args": result.args,
        "kwargs": result.kwargs,
        "attempts": result.attempts,
        "is_finished": result.is_finished,
        "task": (result.task.module_path, result.task.priority, result.task.queue_name),
        "timestamps_in_order": result.enqueued_at <= result.started_at <= result.finished_at,
    }


@pytest.mark.parametrize(("task", "args", "kwargs"), CASES, ids=lambda c: getattr(c, "name", ""))
def test_our_result_equals_djangos_immediate_backends(celery_worker, settings, task, args, kwargs):
    settings.TASKS = {
        "default": {"BACKEND": OURS},
        "immediate": {"BACKEND": IMMEDIATE, "QUEUES": []},
    }
    expected = task.using(backend="immediate").enqueue(*args, **kwargs)
    ours = finished(task.enqueue(*args, **kwargs))
    assert _comparable(ours) == _comparable(expected)
    assert _comparable(task.get_result(ours.id)) == _comparable(expected)
    if ours.errors:
        assert ours.errors[0].traceback.startswith("Traceback (most recent call last):")
        with pytest.raises(ValueError, match="Task failed"):
            _ = ours.return_value


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=3) | st.integers(), children, max_size=3)
    ),
    max_leaves=8,
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=JSONISH | st.datetimes() | st.sets(st.integers(), max_size=2))
def test_what_enqueue_accepts_is_what_django_accepts_and_json_keeps(db, value):
    """Django's own rule (TaskResult normalizes arguments, refusing other types) is the
    oracle; ours refuses, in addition, what JSON would change or cannot hold."""
    try:
        normalized = api.normalize_json([value])
    except (TypeError, ValueError):
        normalized = None
    json_keeps = normalized is not None and _json_round_trip(normalized) == normalized

    def enqueue_and_roll_back():
        with transaction.atomic():
            sent.append(team.noop.enqueue(value))
            raise RuntimeError("roll back: nothing is sent")

    sent: list = []
    if json_keeps:
        with pytest.raises(RuntimeError, match="roll back"):
            enqueue_and_roll_back()
        assert sent[0].args == normalized
    else:
        with pytest.raises(TypeError, match=r"noop\.enqueue\(\): args\[0\]"):
            enqueue_and_roll_back()
        assert sent == []


def _json_round_trip(value):
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except ValueError:
        return None


def test_a_run_sent_by_name_with_wrong_arguments_is_refused_and_leaves_no_record(clean_redis):
    from celery import current_app

    with pytest.raises(TypeError, match="unexpected keyword argument 'wrong'"):
        current_app.tasks[team.tally.module_path].apply_async(kwargs={"wrong": 1})
    assert not [k for k in clean_redis.scan_iter() if not k.startswith(b"_kombu")]
