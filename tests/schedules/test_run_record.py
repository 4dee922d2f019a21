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
