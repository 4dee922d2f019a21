import pytest

import tests.schedules.probe_tasks  # noqa: F401  (registers the test-only periodic tasks)
from schedules.models import TaskRun
from schedules.tasks import sleep_probe
from tests.support.processes import subprocess_env, wait_for


def run_status(task_id: str) -> str | None:
    return TaskRun.objects.filter(celery_task_id=task_id).values_list("status", flat=True).first()


def start_probe_then_kill_worker(worker_process, settings):
    """What a crash leaves behind: a sleep_probe run (4 s hard limit, 1 s lock margin)
    started on a subprocess worker that is then killed. Returns the probe's result."""
    settings.SCHEDULES_LOCK_MARGIN_SECONDS = 1
    worker = worker_process(
        queues="default", concurrency=1, env=subprocess_env(SCHEDULES_LOCK_MARGIN_SECONDS="1")
    )
    probe = sleep_probe.apply_async(kwargs={"seconds": 30}, time_limit=4, soft_time_limit=3)
    wait_for(lambda: run_status(probe.id) == "started", timeout=20, message="probe started")
    worker.kill()
    return probe


@pytest.fixture
def skipped_signals():
    from schedules.signals import periodic_run_skipped

    received: list[dict] = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    periodic_run_skipped.connect(receiver, weak=False, dispatch_uid="tests.skipped")
    yield received
    periodic_run_skipped.disconnect(dispatch_uid="tests.skipped")
