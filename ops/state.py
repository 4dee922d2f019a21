"""Redis keys where beat, workers and the checks leave their latest timestamps.

Redis, not the database, so that reading the live state costs one round trip and the
checks keep working while PostgreSQL is slow.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings

PREFIX = "ops:"
BEAT_TICK = PREFIX + "beat:tick"
CHECKS_LOCK = PREFIX + "checks:lock"
CHECKS_LAST = PREFIX + "checks:last"
# Worker instances (ops.recovery): a set of ids, and per id its info, liveness key,
# the delivery tags it holds and the claim of the sweeper recovering it.
WORKERS = PREFIX + "workers"
RECOVERY_RESENT = PREFIX + "recovery:resent"
RECOVERY_LOG = PREFIX + "recovery:log"
# kombu's Redis transport keeps priority levels in sibling lists named queue + SEP + level.
KOMBU_PRIORITY_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)

_clients: dict[str, redis.Redis] = {}


def client(*, url: str | None = None) -> redis.Redis:
    """One client per URL and process (the broker's unless `url`); redis-py pools its
    connections and is thread-safe."""
    url = url or settings.CELERY_BROKER_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True
        )
    return _clients[url]


def heartbeat_outstanding_key(queue: str) -> str:
    return f"{PREFIX}hb:outstanding:{queue}"


def heartbeat_last_key(queue: str) -> str:
    return f"{PREFIX}hb:last:{queue}"


def worker_key(instance: str) -> str:
    return f"{PREFIX}worker:{instance}"


def worker_alive_key(instance: str) -> str:
    return f"{PREFIX}worker:{instance}:alive"


def worker_held_key(instance: str) -> str:
    return f"{PREFIX}worker:{instance}:held"


def worker_claim_key(instance: str) -> str:
    return f"{PREFIX}worker:{instance}:claim"


def queue_list_keys(queue: str) -> list[str]:
    return [queue] + [f"{queue}{KOMBU_PRIORITY_SEP}{step}" for step in KOMBU_PRIORITY_STEPS]


def now_ts() -> float:
    return time.time()
