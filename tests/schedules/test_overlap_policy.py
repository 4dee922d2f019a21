"""The overlap policy's parts, without a worker: celery-once as the oracle for the
lock key, the start-time guard, retries' expiry, the admin's policy field and column,
and what the list says for quiet tasks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from celery.result import AsyncResult
from celery_once import QueueOnce
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules.locking import PeriodicOnceTask
from schedules.locks import lock_key
from schedules.models import ScheduleChange, ScheduleOptions, TaskRun
from schedules.receivers import on_before_task_publish
from schedules.services.overlap import LOCK_HEADER, periodic_run_send
from tests.schedules.probe_tasks import hold
from tests.support.sentry import CapturingTransport, captured
from tests.team.tasks import tally

LIST_URL = "/admin/django_celery_beat/periodictask/"


@given(
    key=st.text(max_size=20),
    seconds=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    fail=st.none() | st.booleans(),
    positional=st.integers(min_value=0, max_value=3),
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_the_lock_key_is_celery_onces_own(key, seconds, fail, positional):
    values = [("key", key), ("seconds", seconds), ("fail", fail)]
    given_values = [(name, value) for name, value in values if value is not None or name == "key"]
    args = [value for _, value in given_values[:positional]]
    kwargs = dict(given_values[positional:])

    assert lock_key(hold, hold.name, args, kwargs) == QueueOnce.get_key(hold, args, kwargs)


def test_a_periodic_once_task_that_unlocks_before_running_is_refused():
    with pytest.raises(TypeError, match="unlock_before_run"):
        type("Unlocking", (PeriodicOnceTask,), {"once": {"unlock_before_run": True}})


@pytest.fixture
def sentry_checkins():
    import sentry_sdk

    from ops.sentry import init_sentry

    CapturingTransport.envelopes = []
    init_sentry(dsn="https://public@sentry.example.invalid/1", environment="t", release="r",
                transport=CapturingTransport)  # fmt: skip
    yield lambda: captured("check_in")
    sentry_sdk.get_client().close()
    sentry_sdk.init()


def test_a_run_whose_lock_expired_before_it_started_is_not_run_and_recorded_expired(
    transactional_db, clean_redis, sentry_checkins
):
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(
        name="tally", task="team.tally", interval=every, kwargs='{"key": "late"}'
    )
    sent = {}

    def publish(args, kwargs, **options):  # the message as it would reach the worker
        sent.update(options)
        return AsyncResult(options["task_id"])

    outcome = periodic_run_send(
        task_name="team.tally", args=[], kwargs={"key": "late"}, trigger="beat",
        options={"headers": {"periodic_task_name": "tally"}}, periodic_task_id=task.pk,
        publish=publish,
    )  # fmt: skip
    assert sent["headers"][LOCK_HEADER] == {"key": outcome.key, "lifetime": 2 + 30}
    assert sent["expires"] - datetime.now(UTC) <= timedelta(seconds=32)
    clean_redis.delete(outcome.key)  # its lock expired while it waited

    result = tally.apply(
        [], {"key": "late"}, task_id=outcome.celery_task_id, headers=sent["headers"]
    )

    assert result.state == "IGNORED"
    assert not clean_redis.exists("team:tally:late"), "the task body ran"
    run = TaskRun.objects.get(celery_task_id=outcome.celery_task_id)
    assert run.status == "expired"
    assert run.error.startswith("expired in queue after waiting ")
    assert "expired or was released before it started; not run" in run.error
    # Sentry: the slot is closed as ok, never left to look missed.
    assert [c["status"] for c in sentry_checkins()] == ["ok"]


def test_a_retry_expires_with_its_extended_lock_not_the_first_sends():
    eta = datetime.now(UTC) + timedelta(seconds=40)
    headers = {"retries": 1, "eta": eta.isoformat(), "expires": "2000-01-01T00:00:00+00:00",
               LOCK_HEADER: {"key": "qo_x", "lifetime": 32}}  # fmt: skip

    on_before_task_publish(headers=headers)

    assert datetime.fromisoformat(headers["expires"]) == eta + timedelta(seconds=32)


@pytest.fixture
def every_minute(db):
    return IntervalSchedule.objects.create(every=60, period="seconds")


def test_the_overlap_policy_is_a_list_column_a_filter_and_an_audited_field(
    admin_client, every_minute
):
    for name, overlap in (("a", "skip"), ("b", "queue_one"), ("c", "allow")):
        task = PeriodicTask.objects.create(name=name, task="team.tally", interval=every_minute,
                                           kwargs=json.dumps({"key": name}))  # fmt: skip
        ScheduleOptions.objects.create(periodic_task=task, overlap=overlap)
    PeriodicTask.objects.create(name="d", task="team.tally", interval=every_minute)  # no options

    page = admin_client.get(LIST_URL).content.decode()
    assert "allow (runs may overlap)" in page
    assert "queue one" in page
    names = {
        policy: sorted(task.name for task in admin_client.get(LIST_URL, {"overlap": policy}).context["cl"].result_list)
        for policy in ("skip", "queue_one", "allow")
    }  # fmt: skip
    assert names == {"skip": ["a", "d"], "queue_one": ["b"], "allow": ["c"]}

    task = PeriodicTask.objects.get(name="a")
    data = dict(
        name="a", task="team.tally", regtask="", interval=every_minute.pk, crontab="", solar="",
        clocked="", start_time_0="", start_time_1="", expires_0="", expires_1="",
        expire_seconds="", queue="", exchange="", routing_key="", priority="", headers="{}",
        args="[]", kwargs='{"key": "a"}', enabled="on", description="", catch_up="run_once",
        overlap="queue_one", pause_after_failures="3",
    )  # fmt: skip
    response = admin_client.post(f"{LIST_URL}{task.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    change = ScheduleChange.objects.get(action="changed", object_id=str(task.pk))
    assert (change.before["overlap"], change.after["overlap"]) == ("skip", "queue_one")
    assert (change.before["pause_after_failures"], change.after["pause_after_failures"]) == (
        None,
        3,
    )
    page = admin_client.get(f"{LIST_URL}{task.pk}/change/").content.decode()
    assert "Overlap policy" in page
    assert "Pause after failures in a row" in page


def test_quiet_tasks_say_their_successes_are_not_recorded(admin_client, every_minute, settings):
    settings.SCHEDULES_HISTORY_EXCLUDE = ["team.tally"]
    PeriodicTask.objects.create(name="quiet", task="team.tally", interval=every_minute)
    failing = PeriodicTask.objects.create(name="failing", task="team.tally", interval=every_minute,
                                          kwargs='{"key": "f"}')  # fmt: skip
    TaskRun.objects.create(periodic_task=failing, task_name="team.tally", status="failed",
                           queued_at=datetime.now(UTC))  # fmt: skip
    PeriodicTask.objects.create(name="loud", task="team.sync_stock", interval=every_minute)

    page = admin_client.get(LIST_URL).content.decode()

    assert '<span class="run-note">no failure recorded</span>' in page
    assert '<span class="run-note">failures only</span>' in page
    assert "never run" in page  # the task whose runs are all recorded


def test_a_run_left_waiting_behind_a_crashed_run_is_sent_by_the_reaper(
    transactional_db, clean_redis
):
    from schedules.locks import lock_holder_read, lock_run_started
    from schedules.services.reaper import waiting_runs_reap

    every = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(
        name="tally", task="team.tally", interval=every, kwargs='{"key": "crash"}'
    )
    ScheduleOptions.objects.create(periodic_task=task, overlap="queue_one")

    def send():
        return periodic_run_send(
            task_name="team.tally", args=[], kwargs={"key": "crash"}, trigger="beat",
            periodic_task_id=task.pk,
        )  # fmt: skip

    first = send()  # no worker: queued, holding the lock
    lock_run_started(first.key, celery_task_id=first.celery_task_id, worker="w@gone",
                     lifetime_ms=60_000)  # fmt: skip
    second = send()
    assert second.status == "waiting"
    stale = TaskRun.objects.create(periodic_task=task, task_name="team.tally", status="waiting",
                                   celery_task_id="lost-place",
                                   queued_at=datetime.now(UTC) - timedelta(minutes=5))  # fmt: skip
    clean_redis.delete(first.key)  # the first run's worker died; its lock expired

    assert waiting_runs_reap() == {"waiting_sent": 1, "waiting_expired": 1}

    assert TaskRun.objects.get(celery_task_id=second.celery_task_id).status == "queued"
    assert lock_holder_read(first.key)["celery_task_id"] == second.celery_task_id
    stale.refresh_from_db()
    assert stale.status == "expired"
    assert waiting_runs_reap() == {"waiting_sent": 0, "waiting_expired": 0}


def test_a_team_task_on_celery_onces_own_base_is_locked_once_not_twice(
    transactional_db, clean_redis
):
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(name="ledger", task="team.export_ledger",
                                       interval=every, args='["2026-11"]')  # fmt: skip

    def send():
        return periodic_run_send(task_name="team.export_ledger", args=["2026-11"], kwargs={},
                                 trigger="beat", periodic_task_id=task.pk)  # fmt: skip

    first, second = send(), send()

    assert (first.status, first.result.id) == ("queued", first.celery_task_id)
    assert second.status == "skipped"
    assert first.key == "qo_team.export_ledger_month-2026-11"
    assert sorted(TaskRun.objects.values_list("status", flat=True)) == ["queued", "skipped"]


def test_a_run_whose_lock_redis_lost_is_refused_while_postgresql_says_another_still_runs(
    transactional_db, clean_redis
):
    from schedules.locks import lock_holder_read
    from schedules.services.overlap import periodic_run_claim
    from schedules.services.runs import run_record_started

    every = IntervalSchedule.objects.create(every=1, period="seconds")
    PeriodicTask.objects.create(
        name="tally every second", task="team.tally", interval=every, kwargs='{"key": "lost"}'
    )
    periodic_task_id = PeriodicTask.objects.get(name="tally every second").pk

    def send():
        return periodic_run_send(
            task_name="team.tally", args=[], kwargs={"key": "lost"}, trigger="beat",
            periodic_task_id=periodic_task_id,
        )  # fmt: skip

    def claim(run) -> bool:
        return periodic_run_claim(
            lock={"key": run.key, "lifetime": 60}, celery_task_id=run.celery_task_id,
            task_name="team.tally", worker="w@host", periodic_task_name="tally every second",
        )  # fmt: skip

    first = send()
    assert claim(first)
    run_record_started(celery_task_id=first.celery_task_id, task_name="team.tally",
                       worker="w@frozen", periodic_task_name="tally every second")  # fmt: skip
    clean_redis.flushdb()  # Redis restarted empty: the first run's lock is gone, it runs on
    second = send()
    assert second.status == "queued"  # beat could not know

    assert not claim(second)

    refused = TaskRun.objects.get(celery_task_id=second.celery_task_id)
    assert refused.status == "expired"
    assert f"run {first.celery_task_id} of its schedule" in refused.error
    assert "still runs (its overlap lock was lost with Redis's data); not run" in refused.error
    assert lock_holder_read(second.key) is None  # released for the runs after it


def _started_runs_on(workers: dict[str, str]) -> dict:
    """A run of `team.tally` per key, started on its worker, holding its lock."""
    from schedules.locks import lock_run_started
    from schedules.services.runs import run_record_started

    every = IntervalSchedule.objects.create(every=60, period="seconds")
    for key in ("dead", "alive"):
        PeriodicTask.objects.create(name=f"tally {key}", task="team.tally", interval=every,
                                    kwargs=json.dumps({"key": key}))  # fmt: skip
    runs = {}
    for key, worker in workers.items():
        run = periodic_run_send(
            task_name="team.tally", args=[], kwargs={"key": key}, trigger="beat",
            periodic_task_id=PeriodicTask.objects.get(name=f"tally {key}").pk,
        )  # fmt: skip
        lock_run_started(run.key, celery_task_id=run.celery_task_id, worker=worker,
                         lifetime_ms=60_000)  # fmt: skip
        run_record_started(celery_task_id=run.celery_task_id, task_name="team.tally",
                           worker=worker, periodic_task_name=f"tally {key}")  # fmt: skip
        runs[key] = run
    return runs


def test_a_worker_started_again_under_its_name_ends_its_predecessors_runs_and_locks(
    transactional_db, clean_redis
):
    from schedules.locks import lock_holder_read
    from schedules.services.reaper import runs_of_restarted_worker_end

    runs = _started_runs_on({"dead": "w1@host", "alive": "w2@host"})

    # w1@host was SIGKILLed; its node starts again under the same name.
    assert runs_of_restarted_worker_end(worker="w1@host") == {
        "runs_failed": 1, "locks_released": 1,
    }  # fmt: skip

    dead = TaskRun.objects.get(celery_task_id=runs["dead"].celery_task_id)
    assert dead.status == "failed"
    assert dead.error.startswith("worker lost: its worker w1@host was started again")
    assert lock_holder_read(runs["dead"].key) is None
    assert TaskRun.objects.get(celery_task_id=runs["alive"].celery_task_id).status == "started"
    assert lock_holder_read(runs["alive"].key)["celery_task_id"] == runs["alive"].celery_task_id


def test_a_worker_started_again_while_postgresql_restarts_still_ends_its_predecessors_runs(
    transactional_db, clean_redis
):
    """Seen in a chaos run: a worker killed, then started again just as PostgreSQL
    restarted; its predecessor's inbox scan stayed started and refused every scan
    after it for the scan's lock lifetime (11 minutes)."""
    from types import SimpleNamespace

    from schedules.receivers import on_worker_ready

    runs = _started_runs_on({"dead": "w1@host"})
    _connection_broken_as_a_restart_breaks_it()

    on_worker_ready(sender=SimpleNamespace(hostname="w1@host"))

    assert TaskRun.objects.get(celery_task_id=runs["dead"].celery_task_id).status == "failed"


def _connection_broken_as_a_restart_breaks_it() -> None:
    """End this process's PostgreSQL backend from another connection, as a restart
    does, after Django's per-task health check passed (a worker frozen in between)."""
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    connection.health_check_done = True


def test_a_frozen_workers_run_whose_lock_redis_lost_is_refused_on_a_fresh_connection(
    transactional_db, clean_redis
):
    # The chaos run's overlap: a worker frozen right after taking a message, Redis
    # emptied and PostgreSQL restarted meanwhile. On waking, the run's claim met the
    # dead connection, failed, and the run went on unguarded beside the next one.
    from types import SimpleNamespace

    from schedules.receivers import _claimed

    every = IntervalSchedule.objects.create(every=1, period="seconds")
    periodic_task_id = PeriodicTask.objects.create(
        name="tally every second", task="team.tally", interval=every, kwargs='{"key": "f"}'
    ).pk
    first = periodic_run_send(
        task_name="team.tally", args=[], kwargs={"key": "f"}, trigger="beat",
        periodic_task_id=periodic_task_id,
    )  # fmt: skip
    frozen = SimpleNamespace(
        name="team.tally",
        request=SimpleNamespace(
            hostname="w@frozen",
            headers={LOCK_HEADER: {"key": first.key, "lifetime": 60},
                     "periodic_task_name": "tally every second"},
        ),
    )  # fmt: skip
    clean_redis.flushdb()  # its lock is gone while the worker sleeps
    _connection_broken_as_a_restart_breaks_it()

    assert not _claimed(frozen, first.celery_task_id)  # refused, not run unguarded

    refused = TaskRun.objects.get(celery_task_id=first.celery_task_id)
    assert refused.status == "expired"
    assert "expired or was released before it started" in refused.error
