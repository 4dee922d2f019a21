"""Run history for runs that did not go through PeriodicOnceTask.apply_async."""

import uuid

import pytest

from schedules.models import TaskRun
from schedules.services.runs import run_record_started

pytestmark = pytest.mark.django_db


def test_a_run_first_seen_at_its_start_gets_a_row_with_its_time_limit():
    celery_task_id = str(uuid.uuid4())
    run_record_started(
        celery_task_id=celery_task_id,
        task_name="batches.resume_stalled_imports",
        worker="w1@host",
        periodic_task_name=None,
        time_limit=300,
    )
    run = TaskRun.objects.get(celery_task_id=celery_task_id)
    assert run.status == TaskRun.Status.STARTED
    assert run.time_limit == 300
    assert run.worker == "w1@host"


def test_a_run_without_a_queue_time_still_has_a_name():
    assert str(TaskRun(task_name="ops.ping", status=TaskRun.Status.STARTED)) == (
        "ops.ping started not queued"
    )


def test_a_run_taking_the_waiting_slot_expires_an_older_waiting_row_the_slot_lost():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from schedules.services.runs import run_record_queued

    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    schedule = PeriodicTask.objects.create(name="queue one", task="team.tally", interval=every)
    holder = {"celery_task_id": "holder", "started_at": None}
    # Waiting when its holder's worker died (or Redis lost the slot): it never runs.
    first, second = (
        run_record_queued(
            task_name="team.tally",
            periodic_task_id=schedule.pk,
            trigger="beat",
            celery_task_id=str(uuid.uuid4()),
            waiting_behind=holder,
        )
        for _ in range(2)
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert second.status == TaskRun.Status.WAITING
    assert first.status == TaskRun.Status.EXPIRED
    assert first.error.startswith("expired while waiting: its waiting slot expired")
