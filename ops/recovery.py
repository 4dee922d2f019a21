"""Dead-worker recovery: late-acknowledged messages a dead worker held are sent again.

With Redis as the broker, a message a worker has taken but not acknowledged sits in
kombu's `unacked` hash. A worker that shuts down cleanly puts them back itself; one
that is SIGKILLed (OOM killer, lost host) leaves them there until the visibility
timeout (an hour) makes kombu restore them. This module closes that gap:

- every worker process registers a *worker instance* (hostname + pid + start time, so
  a restarted worker with the same name is a new instance) and refreshes a liveness
  key every OPS_WORKER_ALIVE_INTERVAL seconds, from a thread of the main process;
- when the worker receives a message of a late-acknowledged task, it records the
  message's delivery tag under its instance (`task_received`, in the main process);
- every worker and beat sweep every OPS_RECOVERY_INTERVAL: an instance whose liveness
  key has expired (OPS_WORKER_DEAD_AFTER) is dead, and each message it held that is
  still unacknowledged, and that no live instance holds, is put back on its queue with
  kombu's own `restore_by_tag` (an atomic WATCH/MULTI on the unacked hash: a message
  acknowledged or restored meanwhile is left alone).

A live worker's messages are never touched: only tags recorded by a dead instance,
and not also recorded by a live one, are restored. A worker stopped (SIGSTOP) for
longer than OPS_WORKER_DEAD_AFTER counts as dead; if it resumes, the task it was
running is also running elsewhere, which the platform's late-acknowledged tasks are
written to survive (they are idempotent under redelivery).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

from celery import current_app
from django.conf import settings

from ops import state

logger = logging.getLogger(__name__)

# The instance of this process when it is a worker (set at worker_ready).
_instance: dict[str, Any] = {}


def _alive_ms() -> int:
    return int(settings.OPS_WORKER_DEAD_AFTER * 1000)


def worker_instance_start(*, hostname: str, queues: list[str]) -> str:
    """Register this worker process; returns its instance id."""
    instance = f"{hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    _instance.update(
        id=instance, hostname=hostname, queues=",".join(sorted(queues)), since=state.now_ts()
    )
    worker_instance_refresh()
    return instance


def current_instance() -> str | None:
    return _instance.get("id")


def worker_instance_refresh() -> None:
    """Say this worker is alive; also re-registers it (Redis may have been emptied)."""
    instance = current_instance()
    if instance is None:
        return
    worker_instance_record(
        instance=instance,
        hostname=_instance["hostname"],
        queues=_instance["queues"].split(","),
        since=_instance["since"],
    )


def worker_instance_record(
    *, instance: str, hostname: str, queues: list[str], since: float
) -> None:
    """Write a worker instance's record and liveness key: the node name and the queues it
    consumes, which the ops pages and checks read instead of asking the workers."""
    pipe = state.client().pipeline(transaction=True)
    pipe.hset(
        state.worker_key(instance),
        mapping={"hostname": hostname, "queues": ",".join(sorted(queues)), "since": since},
    )
    pipe.sadd(state.WORKERS, instance)
    pipe.set(state.worker_alive_key(instance), state.now_ts(), px=_alive_ms())
    pipe.execute()


def worker_instance_stop() -> None:
    """A clean shutdown: Celery restores what this worker held; forget the instance."""
    instance = _instance.pop("id", None)
    if instance is None:
        return
    pipe = state.client().pipeline(transaction=True)
    pipe.srem(state.WORKERS, instance)
    pipe.delete(
        state.worker_key(instance),
        state.worker_alive_key(instance),
        state.worker_held_key(instance),
    )
    pipe.execute()


def message_held_record(*, delivery_tag: str, task_name: str, task_id: str) -> None:
    """This worker took a late-acknowledged message: remember its tag until it is acked."""
    instance = current_instance()
    if instance is None or not delivery_tag:
        return
    state.client().hset(
        state.worker_held_key(instance),
        delivery_tag,
        json.dumps({"task": task_name, "id": task_id, "at": state.now_ts()}),
    )


def _unacked_key() -> str:
    options = current_app.conf.broker_transport_options or {}
    return options.get("global_keyprefix", "") + options.get("unacked_key", "unacked")


def held_messages_prune() -> int:
    """Forget the tags this worker held that are no longer unacknowledged (acked)."""
    instance = current_instance()
    if instance is None:
        return 0
    client = state.client()
    held_key = state.worker_held_key(instance)
    tags = client.hkeys(held_key)
    if not tags:
        return 0
    pipe = client.pipeline(transaction=False)
    unacked = _unacked_key()
    for tag in tags:
        pipe.hexists(unacked, tag)
    gone = [tag for tag, pending in zip(tags, pipe.execute(), strict=True) if not pending]
    if gone:
        client.hdel(held_key, *gone)
    return len(gone)


def _instances(instances: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """{instance: {alive, hostname, queues, since}} of every registered worker instance
    (of `instances`, when the caller has read the set already)."""
    client = state.client()
    if instances is None:
        # The client decodes responses: members are str.
        instances = sorted(str(member) for member in client.smembers(state.WORKERS))
    if not instances:
        return {}
    pipe = client.pipeline(transaction=False)
    for instance in instances:
        pipe.exists(state.worker_alive_key(instance))
        pipe.hgetall(state.worker_key(instance))
    replies = iter(pipe.execute())
    found = {}
    for instance in instances:
        alive, info = next(replies), next(replies)
        found[instance] = {
            "alive": bool(alive),
            "hostname": info.get("hostname", instance),
            "queues": [queue for queue in info.get("queues", "").split(",") if queue],
            "since": float(info.get("since") or 0),
        }
    return found


def workers_alive(*, instances: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """{instance: {hostname, queues, since}} of the worker instances alive now; two round
    trips (one when `instances`, the members of the set, were read already), so the
    pages, the metrics and the sweep can afford it every few seconds."""
    return {instance: info for instance, info in _instances(instances).items() if info["alive"]}


def dead_workers_recover(*, owner: str, replacing: str = "") -> list[dict[str, Any]]:
    """Send again what dead worker instances held; one report per instance recovered.

    `replacing`: the node name of a worker starting now. An older instance with that
    name is its predecessor (a container restarted after the OOM killer, say) and is
    dead whatever its liveness key says: Celery node names are unique while alive.
    """
    instances = _instances()
    if not instances:
        return []
    me = current_instance()
    dead = [
        instance
        for instance, info in instances.items()
        if not info["alive"] or (replacing and info["hostname"] == replacing and instance != me)
    ]
    if not dead:
        return []
    client = state.client()
    pipe = client.pipeline(transaction=False)
    live = [instance for instance in instances if instance not in dead]
    for instance in live:
        pipe.hkeys(state.worker_held_key(instance))
    held_by_live = {tag for tags in pipe.execute() for tag in tags}
    reports = []
    with current_app.connection_for_write() as connection:
        channel = connection.default_channel
        for instance in dead:
            # One sweeper per dead instance, whichever worker or beat gets here first.
            if not client.set(state.worker_claim_key(instance), owner, nx=True, ex=300):
                continue
            reports.append(
                _instance_recover(instance, channel=channel, held_by_live=held_by_live, owner=owner)
            )
    return reports


def _instance_recover(
    instance: str, *, channel: Any, held_by_live: set[str], owner: str
) -> dict[str, Any]:
    client = state.client()
    info = client.hgetall(state.worker_key(instance))
    held = client.hgetall(state.worker_held_key(instance))
    resent = []
    for tag, record in sorted(held.items(), key=lambda item: json.loads(item[1])["at"]):
        if tag in held_by_live:
            continue  # delivered again already, and a live worker has it
        if not channel.client.hexists(channel.qos.unacked_key, tag):
            continue  # acknowledged, or restored by kombu already
        channel.qos.restore_by_tag(tag)
        resent.append(json.loads(record))
    pipe = client.pipeline(transaction=True)
    pipe.srem(state.WORKERS, instance)
    pipe.delete(
        state.worker_key(instance),
        state.worker_alive_key(instance),
        state.worker_held_key(instance),
    )
    if resent:
        pipe.incrby(state.RECOVERY_RESENT, len(resent))
    report = {
        "instance": instance,
        "hostname": info.get("hostname", instance),
        "recovered_at": state.now_ts(),
        "by": owner,
        "resent": [{"task": item["task"], "id": item["id"]} for item in resent],
    }
    pipe.lpush(state.RECOVERY_LOG, json.dumps(report))
    pipe.ltrim(state.RECOVERY_LOG, 0, 99)
    pipe.execute()
    logger.warning(
        "worker %s died: sent %d unacknowledged message(s) again (%s)",
        report["hostname"],
        len(resent),
        ", ".join(sorted({item["task"] for item in resent})) or "none held",
    )
    return report


def recoveries_recent(*, limit: int = 20) -> list[dict[str, Any]]:
    """The last dead-worker recoveries, newest first (what was sent again, by whom)."""
    return [json.loads(item) for item in state.client().lrange(state.RECOVERY_LOG, 0, limit - 1)]
