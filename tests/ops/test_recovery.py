"""Dead-worker recovery against real Redis and kombu: what a dead worker held goes back
on its queue, what a live worker holds never does."""

from __future__ import annotations

import json

import pytest

from ops import recovery, state
from ops.tasks import ping


@pytest.fixture
def broker(celery_app, clean_redis):
    with celery_app.connection_for_write() as connection:
        yield connection.default_channel


def _take(channel, queue: str) -> str:
    """Take one message the way a worker does (into kombu's unacked hash); returns its tag.

    Forgetting it in this channel afterwards is what a SIGKILL does: nobody is left to
    put it back when the connection closes.
    """
    message = channel.basic_get(queue, no_ack=False)
    assert message is not None
    channel.qos._delivered.clear()
    return message.delivery_tag


def _worker(hostname: str, *, held: list[tuple[str, str]] = (), alive: bool = True) -> str:
    """Register a worker instance holding `held` [(tag, task id)], as the signals do."""
    instance = recovery.worker_instance_start(hostname=hostname, queues=["ops"])
    for tag, task_id in held:
        recovery.message_held_record(delivery_tag=tag, task_name="ops.ping", task_id=task_id)
    recovery._instance.clear()  # this test process is not that worker
    if not alive:
        state.client().delete(state.worker_alive_key(instance))
    return instance


def _queued_task_ids(redis_client, queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in redis_client.lrange(queue, 0, -1)]


def test_what_a_dead_worker_held_is_sent_again_and_a_live_workers_is_not(broker, clean_redis):
    lost, kept = ping.apply_async(args=["lost"]), ping.apply_async(args=["kept"])
    lost_tag, kept_tag = _take(broker, "ops"), _take(broker, "ops")
    dead = _worker("dead@host", held=[(lost_tag, lost.id)], alive=False)
    _worker("live@host", held=[(kept_tag, kept.id)])

    [report] = recovery.dead_workers_recover(owner="test")

    assert report["hostname"] == "dead@host"
    assert report["resent"] == [{"task": "ops.ping", "id": lost.id}]
    assert _queued_task_ids(clean_redis, "ops") == [lost.id]
    assert clean_redis.hkeys("unacked") == [kept_tag.encode()]
    assert clean_redis.get(state.RECOVERY_RESENT) == b"1"
    assert dead.encode() not in clean_redis.smembers(state.WORKERS)
    assert recovery.recoveries_recent()[0]["resent"][0]["id"] == lost.id
    assert recovery.dead_workers_recover(owner="test") == [], "recovered once"


def test_a_message_a_live_worker_holds_again_is_not_sent_a_second_time(broker, clean_redis):
    result = ping.apply_async()
    tag = _take(broker, "ops")
    _worker("dead@host", held=[(tag, result.id)], alive=False)
    _worker("live@host", held=[(tag, result.id)])  # kombu restored it; a live worker took it

    [report] = recovery.dead_workers_recover(owner="test")

    assert report["resent"] == []
    assert clean_redis.llen("ops") == 0
    assert clean_redis.hexists("unacked", tag)


def test_an_acknowledged_message_is_not_sent_again(broker, clean_redis):
    result = ping.apply_async()
    tag = _take(broker, "ops")
    broker.qos.ack(tag)  # the worker finished it, then died
    _worker("dead@host", held=[(tag, result.id)], alive=False)

    [report] = recovery.dead_workers_recover(owner="test")

    assert report["resent"] == []
    assert clean_redis.llen("ops") == 0


def test_a_worker_restarted_under_the_same_name_takes_over_its_predecessor_at_once(
    broker, clean_redis
):
    result = ping.apply_async()
    tag = _take(broker, "ops")
    _worker("worker@container", held=[(tag, result.id)])  # its liveness key has not expired
    recovery.worker_instance_start(hostname="worker@container", queues=["ops"])
    try:
        assert recovery.dead_workers_recover(owner="test") == [], "not by its name alone"
        [report] = recovery.dead_workers_recover(owner="test", replacing="worker@container")
    finally:
        recovery._instance.clear()
    assert report["resent"] == [{"task": "ops.ping", "id": result.id}]
    assert _queued_task_ids(clean_redis, "ops") == [result.id]


def test_a_live_worker_forgets_the_messages_it_has_acknowledged(broker, clean_redis):
    done, running = ping.apply_async(), ping.apply_async()
    done_tag, running_tag = _take(broker, "ops"), _take(broker, "ops")
    recovery.worker_instance_start(hostname="w@host", queues=["ops"])
    try:
        recovery.message_held_record(delivery_tag=done_tag, task_name="ops.ping", task_id=done.id)
        recovery.message_held_record(
            delivery_tag=running_tag, task_name="ops.ping", task_id=running.id
        )
        broker.qos.ack(done_tag)
        assert recovery.held_messages_prune() == 1
        held_key = state.worker_held_key(recovery.current_instance())
        assert clean_redis.hkeys(held_key) == [running_tag.encode()]
    finally:
        recovery.worker_instance_stop()
    assert not clean_redis.exists(held_key)


def test_workers_alive_lists_live_instances_with_their_queues(clean_redis):
    _worker("a@host")
    _worker("b@host", alive=False)
    assert [info["hostname"] for info in recovery.workers_alive().values()] == ["a@host"]
