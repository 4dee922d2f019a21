"""Reads for health checks."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.db import connection


def dependency_status() -> dict[str, dict[str, Any]]:
    """Check the database and Redis (broker and locks); each entry says ok and why not."""
    status: dict[str, dict[str, Any]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = {"ok": True}
    except Exception as exc:
        status["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
        client.ping()
        status["broker"] = {"ok": True}
    except Exception as exc:
        status["broker"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return status
