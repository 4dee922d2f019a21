"""The foundation's promises, through a real worker on the real Redis broker."""

import uuid

import pytest
from celery import chord
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ops.tasks import ping
from tests.support.processes import wait_for
from tests.support.tasks import record_tick, square, total


def test_task_enqueued_on_commit_runs_and_returns_its_result_through_redis(
    celery_worker, redis_client
):
    results = []
    token = uuid.uuid4().hex
    with transaction.atomic():
        transaction.on_commit(lambda: results.append(ping.apply_async(args=[token])))
        assert results == [], "nothing may be sent before the transaction commits"
    assert results[0].get(timeout=20) == token
    assert redis_client.exists(f"celery-task-meta-{results[0].id}")


def test_delay_on_commit_is_dropped_when_the_transaction_rolls_back(celery_worker, redis_client):
    def send_then_fail():
        with transaction.atomic():
            ping.delay_on_commit("never")
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        send_then_fail()
    assert redis_client.llen("ops") == 0


def test_chord_of_100_tasks_delivers_the_aggregate_to_its_body(celery_worker):
    result = chord(square.s(n) for n in range(100))(total.s())
    assert result.get(timeout=60) == sum(n * n for n in range(100))


@pytest.mark.slow
def test_periodic_task_created_in_the_database_fires_within_its_interval(
    celery_worker, beat_process, redis_client
):
    key = f"tick-{uuid.uuid4().hex}"
    every_two_seconds = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="foundation tick", task=record_tick.name, interval=every_two_seconds,
        args=f'["{key}"]',
    )  # fmt: skip
    beat = beat_process()
    wait_for(
        lambda: int(redis_client.get(key) or 0) >= 2,
        timeout=30,
        message=f"two ticks from beat; beat log:\n{beat.log()[-2000:]}",
    )
