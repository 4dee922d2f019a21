"""No run stuck in a running state: schedules.reap_lost_runs marks runs whose worker
was killed (started) or whose message was lost (queued) failed, and a late outcome or
a redelivery of a reaped run still records what really happened."""

from datetime import UTC, datetime, timedelta

import pytest
from celery import current_app

from schedules.models import TaskRun
from schedules.services.reaper import runs_lost_reap
from schedules.tasks import reap_lost_runs
from tests.schedules.conftest import run_status, start_probe_then_kill_worker
from tests.schedules.probe_tasks import hold
from tests.support.processes import wait_for


def _run(task_id: str) -> TaskRun:
    return TaskRun.objects.get(celery_task_id=task_id)


def _lost_row(celery_task_id: str, *, status: str, age: timedelta, time_limit=25) -> TaskRun:
    at = datetime.now(UTC) - age
    return TaskRun.objects.create(
        celery_task_id=celery_task_id,
        task_name="tests.schedules.hold",
        status=status,
        queued_at=at,
        started_at=at if status == TaskRun.Status.STARTED else None,
        worker="celery@gone" if status == TaskRun.Status.STARTED else "",
        time_limit=time_limit,
    )


@pytest.mark.slow
@pytest.mark.fault
def test_a_run_whose_worker_was_killed_is_marked_failed_as_worker_lost(worker_process, settings):
    lost = start_probe_then_kill_worker(worker_process, settings)
    assert _run(lost.id).time_limit == 4

    # Still within its 4 s limit + 1 s margin: it might be running, so it is left alone.
    assert runs_lost_reap() == {"started": 0, "queued": 0}
    assert run_status(lost.id) == "started"

    wait_for(lambda: runs_lost_reap()["started"] == 1, timeout=15, message="the lost run reaped")
    run = _run(lost.id)
    assert run.status == "failed"
    assert run.error.startswith("worker lost: no result within 1 s of the 4 s hard time limit")
    assert run.reaped_at is not None
    assert run.finished_at == run.reaped_at
    # From its start to the reap, which came only after the limit + margin had passed.
    assert run.duration == run.reaped_at - run.started_at
    assert run.reaped_at >= run.started_at + timedelta(seconds=4 + 1)


def test_a_queued_run_that_never_started_is_marked_failed_after_the_queue_wait(
    clean_redis, transactional_db, settings
):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 30
    settings.SCHEDULES_QUEUE_WAIT_SECONDS = 600
    queued = hold.delay("never")  # no worker: the message sits in the queue
    assert _run(queued.id).time_limit == 25
    TaskRun.objects.filter(celery_task_id=queued.id).update(
        queued_at=datetime.now(UTC) - timedelta(seconds=600 + 25 + 30 - 5)
    )
    assert runs_lost_reap()["queued"] == 0

    TaskRun.objects.filter(celery_task_id=queued.id).update(
        queued_at=datetime.now(UTC) - timedelta(seconds=600 + 25 + 30 + 5)
    )
    assert runs_lost_reap()["queued"] == 1

    run = _run(queued.id)
    assert run.status == "failed"
    assert run.error.startswith("worker lost: never started within 655 s of being queued")


def test_reaping_touches_only_runs_past_their_own_limit(db, settings):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 30
    _lost_row("old-short", status="started", age=timedelta(seconds=60), time_limit=25)
    _lost_row("young-long", status="started", age=timedelta(seconds=60), time_limit=600)
    # No limit stored (an older row): the registered task's time_limit (25 s) applies.
    _lost_row("no-limit", status="started", age=timedelta(seconds=60), time_limit=None)
    done = _lost_row("done", status="started", age=timedelta(hours=2))
    TaskRun.objects.filter(pk=done.pk).update(status="succeeded")

    assert runs_lost_reap() == {"started": 2, "queued": 0}

    statuses = dict(TaskRun.objects.values_list("celery_task_id", "status"))
    assert statuses == {
        "old-short": "failed",
        "young-long": "started",
        "no-limit": "failed",
        "done": "succeeded",
    }


def test_the_reap_task_run_twice_leaves_the_same_state(celery_worker, settings):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 30
    _lost_row("lost-1", status="started", age=timedelta(minutes=5))
    _lost_row("lost-2", status="queued", age=timedelta(hours=3))

    rows = TaskRun.objects.order_by("id").values("celery_task_id", "status", "error", "reaped_at")
    beat = {"headers": {"periodic_task_name": "schedules: reap lost runs"}}  # as beat sends it

    first = reap_lost_runs.apply_async(**beat).get(timeout=15)
    after_first = list(rows)
    # The result is stored just before the run releases its overlap lock.
    wait_for(lambda: not _reaper_lock_held(), timeout=10, message="the reaper's lock released")
    second = reap_lost_runs.apply_async(**beat).get(timeout=15)

    assert first == {"started": 1, "queued": 1}
    assert second == {"started": 0, "queued": 0}
    assert [row["status"] for row in after_first] == ["failed", "failed"]
    assert list(rows) == after_first
    # The reaper itself is in SCHEDULES_HISTORY_EXCLUDE: its successful runs add no rows.
    assert not TaskRun.objects.filter(task_name="schedules.reap_lost_runs").exists()


def _reaper_lock_held() -> bool:
    return bool(reap_lost_runs.lock_redis.exists(reap_lost_runs.lock_key([], {})))


def test_a_reaped_run_whose_message_is_redelivered_starts_again_and_records_its_success(
    celery_worker, settings
):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 30
    _lost_row("redelivered", status="started", age=timedelta(minutes=5))
    runs_lost_reap()
    assert run_status("redelivered") == "failed"

    # acks_late redelivery: the same message, with the same task id, reaches a worker.
    current_app.send_task("tests.schedules.hold", args=["back"], task_id="redelivered")

    wait_for(lambda: run_status("redelivered") == "succeeded", timeout=15, message="success")
    run = _run("redelivered")
    assert run.error == ""
    assert run.worker != "celery@gone"
    assert run.reaped_at is not None  # the history still says it was reaped once
    assert run.finished_at > run.reaped_at
    # Measured from the new start, not from the lost one five minutes earlier.
    assert run.started_at > run.reaped_at
    assert run.duration == run.finished_at - run.started_at


def test_a_late_failure_of_a_reaped_run_replaces_the_worker_lost_error(celery_worker, settings):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 30
    _lost_row("late-failure", status="queued", age=timedelta(hours=3))
    runs_lost_reap()
    assert _run("late-failure").error.startswith("worker lost: never started")

    current_app.send_task(
        "tests.schedules.hold", args=["late"], kwargs={"fail": True}, task_id="late-failure"
    )

    wait_for(lambda: "boom" in _run("late-failure").error, timeout=15, message="the real failure")
    run = _run("late-failure")
    assert run.status == "failed"
    assert run.error == "ValueError: boom in late"


def test_a_reaped_run_started_again_shows_as_started_not_failed(celery_worker, settings):
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 30
    _lost_row("slow-back", status="started", age=timedelta(minutes=5))
    runs_lost_reap()

    current_app.send_task(
        "tests.schedules.hold", args=["slow"], kwargs={"seconds": 2}, task_id="slow-back"
    )

    wait_for(lambda: run_status("slow-back") == "started", timeout=15, message="started again")
    run = _run("slow-back")
    assert run.error == ""
    assert run.finished_at is None
    assert run.duration is None
    # Running again within its limit: the next reaper pass leaves it alone.
    assert runs_lost_reap() == {"started": 0, "queued": 0}
    wait_for(lambda: run_status("slow-back") == "succeeded", timeout=15, message="success")
