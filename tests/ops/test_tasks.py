"""Ops tasks: heartbeat sending and recording, checks and pruning; each idempotent."""

import json

import pytest
from django.utils import timezone

from ops import state
from ops.models import Alert, Heartbeat, QueueSample
from ops.services import alert_raise, alert_resolve
from ops.tasks import heartbeat, prune_history, run_checks


def test_heartbeat_goes_to_its_own_queue_and_a_second_waits_for_the_first(clean_redis, settings):
    first = heartbeat.apply_async(kwargs={"queue": "imports"})
    second = heartbeat.apply_async(kwargs={"queue": "imports"})
    assert first.id
    assert second.state == "REJECTED", "one outstanding heartbeat per queue"
    assert clean_redis.llen("imports") == 1
    assert clean_redis.llen("ops") == 0, "not routed by the ops.* route"
    message = json.loads(clean_redis.lindex("imports", 0))
    assert message["headers"]["expires"], "a short expiry, so a stall never piles them up"
    assert float(message["headers"]["ops_sent_at"]) > 0
    assert (
        clean_redis.ttl(state.heartbeat_outstanding_key("imports"))
        <= 2 * settings.OPS_HEARTBEAT_INTERVAL
    )
    assert clean_redis.get(state.BEAT_TICK), "sending is beat's tick"


@pytest.mark.django_db
def test_heartbeat_redelivered_records_one_row_and_frees_the_queue(clean_redis):
    sent = state.now_ts() - 0.25
    clean_redis.set(state.heartbeat_outstanding_key("reports"), sent)
    for _ in range(2):
        heartbeat.apply(kwargs={"queue": "reports"}, task_id="hb-1", headers={"ops_sent_at": sent})
    [row] = Heartbeat.objects.all()
    assert row.queue == "reports"
    assert row.latency >= 0.25
    assert not clean_redis.exists(state.heartbeat_outstanding_key("reports"))
    assert json.loads(clean_redis.get(state.heartbeat_last_key("reports")))["latency"] >= 0.25


@pytest.mark.django_db
def test_running_the_checks_twice_keeps_one_alert_per_condition(clean_redis, settings):
    run_checks.apply()
    first = sorted(Alert.objects.filter(status="open").values_list("kind", "subject"))
    run_checks.apply()
    assert sorted(Alert.objects.filter(status="open").values_list("kind", "subject")) == first
    assert ("beat_stalled", "beat") in first
    assert Alert.objects.count() == len(first)


@pytest.mark.django_db
def test_pruning_twice_deletes_old_history_once_and_keeps_open_alerts(settings):
    settings.OPS_HISTORY_DAYS = 7
    old = timezone.now() - timezone.timedelta(days=8)
    Heartbeat.objects.create(
        queue="ops", celery_task_id="old", sent_at=old, started_at=old, latency=0
    )
    QueueSample.objects.create(queue="ops", sampled_at=old, depth=0)
    alert_raise(kind="k", subject="old-open", message="")
    alert_raise(kind="k", subject="old-resolved", message="")
    alert_resolve(kind="k", subject="old-resolved")
    Alert.objects.update(resolved_at=old)
    assert prune_history.apply().get() == {"heartbeats": 1, "samples": 1, "alerts": 1}
    assert prune_history.apply().get() == {"heartbeats": 0, "samples": 0, "alerts": 0}
    assert Alert.objects.filter(subject="old-open", status="open").exists()


def test_ops_periodic_defaults_send_a_heartbeat_to_every_queue(settings):
    from ops.periodic import DEFAULT_SCHEDULES

    beats = [entry for entry in DEFAULT_SCHEDULES if entry["task"] == "ops.heartbeat"]
    assert sorted(entry["queue"] for entry in beats) == sorted(settings.PLATFORM_QUEUES)
    assert all(entry["interval"] == settings.OPS_HEARTBEAT_INTERVAL for entry in beats)
