"""Readiness checks: database, Redis, the broker and heartbeat freshness, read from state.

A failed check says what failed in words and the exception's class, never its text
(which can hold host names, user names or paths); the text goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

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
    """Readiness: the database, the broker's Redis (and REDIS_URL's, when it is another
    server) and heartbeat freshness, from what beat and the workers store in Redis.

    One query and one pipelined Redis round trip (two with a separate REDIS_URL), on
    this process's pooled connections: a probe every few seconds opens nothing new,
    declares nothing and asks no worker anything.
    """
    status: dict[str, dict[str, Any]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = {"ok": True}
    except Exception as exc:
        status["database"] = _failed("database", exc)
    queues = list(settings.PLATFORM_QUEUES)
    try:
        now_ts = state.now_ts()
        # The pipeline is the broker's round trip: the keys it reads are what beat
        # (its tick) and the workers (each queue's last heartbeat) wrote there.
        beat, heartbeats = probes.beat_and_heartbeats(queues=queues, now_ts=now_ts)
        status["broker"] = {"ok": True}
        status["heartbeats"] = heartbeat_freshness(beat=beat, heartbeats=heartbeats, now_ts=now_ts)
    except Exception as exc:
        status["broker"] = _failed("broker", exc)
        status["heartbeats"] = {"ok": False, "error": "heartbeats not read (broker failed)"}
    if settings.REDIS_URL == settings.CELERY_BROKER_URL:
        status["redis"] = dict(status["broker"])
    else:
        try:
            state.client(url=settings.REDIS_URL).ping()
            status["redis"] = {"ok": True}
        except Exception as exc:
            status["redis"] = _failed("redis", exc)
    return {name: status[name] for name in ("database", "redis", "broker", "heartbeats")}


def heartbeat_freshness(
    *, beat: dict[str, Any], heartbeats: dict[str, dict[str, Any]], now_ts: float
) -> dict[str, Any]:
    """Is beat ticking and has every queue started a heartbeat recently?"""
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
