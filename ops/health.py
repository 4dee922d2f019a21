"""Readiness checks: database, Redis, the broker and heartbeat freshness.

A failed check says what failed in words and the exception's class, never its text
(which can hold host names, user names or paths); the text goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.db import connection

from ops import probes, state
from ops.conditions import queue_thresholds

logger = logging.getLogger(__name__)


def _failed(check: str, exc: Exception) -> dict[str, Any]:
    # A warning, not an error: a readiness probe failing is ops' signal already, and
    # every probe (every few seconds) must not become a Sentry event.
    logger.warning("readiness check %s failed", check, exc_info=exc)
    return {"ok": False, "error": f"{check} check failed ({type(exc).__name__})"}


def dependency_status() -> dict[str, dict[str, Any]]:
    """Readiness: database, Redis, a broker round trip and heartbeat freshness."""
    status: dict[str, dict[str, Any]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = {"ok": True}
    except Exception as exc:
        status["database"] = _failed("database", exc)
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        client.ping()
        status["redis"] = {"ok": True}
    except Exception as exc:
        status["redis"] = _failed("redis", exc)
    status["broker"] = broker_connection()
    status["heartbeats"] = heartbeat_freshness()
    return status


def broker_connection(*, timeout: float = 2.0) -> dict[str, Any]:
    """Connect to the broker the way a publisher does; declares no queue.

    kombu's Redis channel pings the server when it opens, so a broker that is down,
    refuses the credentials or does not answer in `timeout` fails here.
    """
    try:
        with current_app.connection_for_write(
            connect_timeout=timeout, transport_options={"socket_timeout": timeout}
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=int(max(1, timeout)))
            conn.default_channel  # noqa: B018 -- opening the channel is the round trip
        return {"ok": True}
    except Exception as exc:
        return _failed("broker", exc)


def heartbeat_freshness() -> dict[str, Any]:
    """Is beat ticking and has every queue started a heartbeat recently?"""
    try:
        now_ts = state.now_ts()
        beat = probes.beat_status(now_ts=now_ts)
        heartbeats = probes.heartbeat_state(queues=list(settings.PLATFORM_QUEUES))
    except Exception as exc:
        return _failed("heartbeats", exc)
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
