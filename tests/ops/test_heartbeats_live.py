"""Heartbeats and alerts through real beat and worker processes."""

import re

import pytest
from django.db.models import Q

from ops.models import Alert, Heartbeat
from tests.support.processes import wait_for

from .conftest import INTERVAL

pytestmark = [pytest.mark.slow]

QUEUE_KINDS = ("queue_stalled", "queue_no_worker")


def _open_queue_alerts(queue):
    """The open alerts about `queue`: its own, and the one no-worker alert when it names
    the queue (in the command that starts a worker for the queues it lists)."""
    kinds = list(
        Alert.objects.filter(subject=queue, kind="queue_stalled", status="open").values_list(
            "kind", flat=True
        )
    )
    no_worker = Alert.objects.filter(kind="queue_no_worker", status="open").first()
    named = re.search(r"-Q ([\w,]+)", no_worker.message) if no_worker else None
    if named and queue in named.group(1).split(","):
        kinds.append("queue_no_worker")
    return kinds


def test_every_queue_gets_heartbeats_with_a_measured_latency(
    ops_settings, ops_env, heartbeat_schedules_in_db, worker_process, beat_process
):
    worker_process(env=ops_env())
    beat = beat_process(env=ops_env())
    wait_for(
        lambda: (
            set(Heartbeat.objects.values_list("queue", flat=True).distinct())
            == {"default", "imports", "reports", "ops"}
        ),
        timeout=30,
        message=f"heartbeats on every queue; beat log:\n{beat.log()[-2000:]}",
    )
    beat_row = Heartbeat.objects.filter(queue="imports").first()
    assert beat_row.latency >= 0
    assert beat_row.worker.startswith("testworker-")
    assert beat_row.started_at > beat_row.sent_at, "the send time travels with the message"


def _queues_green(queues):
    opened = Alert.objects.filter(
        subject__in=[*queues, "workers"], kind__in=QUEUE_KINDS, status="open"
    )
    have = set(Heartbeat.objects.values_list("queue", flat=True).distinct())
    return not opened.exists() and set(queues) <= have


def test_stopped_queue_worker_opens_one_alert_for_that_queue_and_restart_resolves_it(
    ops_settings, ops_env, heartbeat_schedules_in_db, worker_process, beat_process
):
    general = worker_process(queues="default,reports,ops", env=ops_env())
    imports = worker_process(queues="imports", env=ops_env())
    beat = beat_process(env=ops_env())
    wait_for(
        lambda: _queues_green(["default", "imports", "reports", "ops"]),
        timeout=30,
        message=f"all queues green; beat log:\n{beat.log()[-2000:]}",
    )

    # Start-up noise (a queue checked before its worker was ready) is history already.
    before_stop = Alert.objects.order_by("-id").values_list("id", flat=True).first() or 0
    imports.stop()
    # A worker stopping cleanly removes its liveness record: the next check sees it.
    wait_for(
        lambda: _open_queue_alerts("imports"),
        timeout=2 * INTERVAL + 1,
        message=f"imports alert; worker log:\n{general.log()[-2000:]}",
    )
    for queue in ("default", "reports", "ops"):
        assert _open_queue_alerts(queue) == [], f"{queue} must stay green"

    # Several more checks while it is down: still one alert per condition.
    wait_for(
        lambda: Alert.objects.filter(kind="queue_stalled", subject="imports").exists(),
        timeout=4 * INTERVAL,
        message="the stale-heartbeat condition as well",
    )
    ours = Q(subject="imports") | Q(kind="queue_no_worker", subject="workers")
    first_seen = dict(Alert.objects.filter(ours).values_list("kind", "last_seen_at"))
    wait_for(
        lambda: Alert.objects.filter(ours, last_seen_at__gt=max(first_seen.values())).exists(),
        timeout=3 * INTERVAL,
        message="another check touching the open alert",
    )
    for kind in QUEUE_KINDS:
        assert Alert.objects.filter(ours, kind=kind, id__gt=before_stop).count() <= 1
    no_worker = Alert.objects.get(kind="queue_no_worker", status="open")
    assert no_worker.message.startswith("No worker consumes 1 of 4 queues: imports;")
    assert "celery -A config worker -Q imports -l INFO" in no_worker.message

    worker_process(queues="imports", env=ops_env())
    wait_for(
        lambda: not _open_queue_alerts("imports"),
        timeout=6 * INTERVAL,
        message="imports alerts resolved after the worker came back",
    )
    assert set(Alert.objects.filter(ours, id__gt=before_stop).values_list("status", flat=True)) == {
        "resolved"
    }


def test_stopped_beat_opens_the_beat_alert_and_no_queue_alerts(
    ops_settings, ops_env, heartbeat_schedules_in_db, worker_process, beat_process
):
    worker = worker_process(env=ops_env())
    beat = beat_process(env=ops_env())
    wait_for(
        lambda: _queues_green(["default", "imports", "reports", "ops"]),
        timeout=30,
        message=f"all queues green; beat log:\n{beat.log()[-2000:]}",
    )
    beat.stop()
    # A check that read the state before beat started may still write "Beat has never
    # ticked" late (on a loaded machine); the next check corrects the open alert's
    # message, so wait for the alert as a check after the stop words it.
    alert = wait_for(
        lambda: Alert.objects.filter(
            kind="beat_stalled", subject="beat", status="open", message__startswith="Beat last"
        ).first(),
        timeout=5 * INTERVAL,
        message=f"beat alert from the ops worker's checks; log:\n{worker.log()[-2000:]}",
    )
    assert alert.severity == "red"
    assert "Beat last ticked" in alert.message
    assert not Alert.objects.filter(kind__in=QUEUE_KINDS, status="open").exists(), (
        "a dead beat is one alert, not one per queue"
    )
