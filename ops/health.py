"""Readiness checks: database, Redis, a broker round trip and heartbeat freshness."""

from __future__ import annotations

import uuid
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.db import connection

from ops import probes, state
from ops.conditions import queue_thresholds


def dependency_status() -> dict[str, dict[str, Any]]:
    """Readiness: database, Redis, a broker round trip and heartbeat freshness."""
    status: dict[str, dict[str, Any]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = {"ok": True}
    except Exception as exc:
        status["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        client.ping()
        status["redis"] = {"ok": True}
    except Exception as exc:
        status["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    status["broker"] = broker_round_trip()
    status["heartbeats"] = heartbeat_freshness()
    return status


def broker_round_trip(*, timeout: float = 2.0) -> dict[str, Any]:
    """Publish a message to a private queue through kombu and read it back."""
    name = f"ops.health.{uuid.uuid4().hex}"
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=int(max(1, timeout)))
            queue = conn.SimpleQueue(name, no_ack=True)
            try:
                token = uuid.uuid4().hex
                queue.put({"token": token})
                message = queue.get(timeout=timeout)
                ok = message.payload == {"token": token}
            finally:
                queue.queue.delete()
                queue.close()
        return {"ok": ok} if ok else {"ok": False, "error": "message came back changed"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def heartbeat_freshness() -> dict[str, Any]:
    """Is beat ticking and has every queue started a heartbeat recently?"""
    try:
        now_ts = state.now_ts()
        beat = probes.beat_status(now_ts=now_ts)
        heartbeats = probes.heartbeat_state(queues=list(settings.PLATFORM_QUEUES))
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    stale = []
    for queue, hb in heartbeats.items():
        limit = queue_thresholds(queue=queue)["heartbeat_stale"]
        last = hb.get("last")
        if last is None or now_ts - last["started_at"] > limit:
            stale.append(queue)
    result: dict[str, Any] = {"ok": beat["ok"] and not stale}
    if not beat["ok"]:
        result["beat"] = "beat has not ticked" + (
            f" for {beat['age']:.0f}s" if beat["age"] is not None else ""
        )
    if stale:
        result["stale_queues"] = stale
    return result
