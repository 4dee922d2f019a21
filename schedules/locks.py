"""Overlap locks in Redis: celery-once's lock key, and the holder record kept next to it.

A lock is celery-once's key (`qo_<task name>_<argument values>`) holding a redis-py
`Lock` token. Next to it, `<key>:holder` holds JSON naming the run that holds it
(`celery_task_id`, `task_name`, `periodic_task_id`, `trigger`, `queued_by`,
`queued_at`, `started_at`, `worker`) with the same expiry, so the admin can say who
holds it and a run can release only its own lock. Only Redis here: no task classes,
no database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

HOLDER_SUFFIX = ":holder"

# Deletes the lock and its holder record, but only if the holder is the given run:
# a run whose lock an admin already released must not delete its successor's lock.
_RELEASE_SCRIPT = """
local holder = redis.call('GET', KEYS[2])
if holder and ARGV[1] ~= '' then
  local ok, data = pcall(cjson.decode, holder)
  if ok and data['celery_task_id'] ~= ARGV[1] then
    return 0
  end
end
return redis.call('DEL', KEYS[1], KEYS[2])
"""


def lock_holder_write(redis, key: str, holder: dict[str, Any], *, timeout_ms: int) -> None:
    redis.set(key + HOLDER_SUFFIX, json.dumps(holder), px=timeout_ms)


def lock_holder_get(redis, key: str) -> dict[str, Any] | None:
    raw = redis.get(key + HOLDER_SUFFIX)
    return json.loads(raw) if raw else None


def lock_run_started(redis, key: str, *, celery_task_id: str, worker: str, timeout_ms: int) -> None:
    """A run starts: its lock lives `timeout_ms` from now, and the holder record says
    where it runs. A lock another run holds is left alone."""
    holder = lock_holder_get(redis, key)
    if holder is None or holder.get("celery_task_id") == celery_task_id:
        redis.pexpire(key, timeout_ms)
        if holder is not None:
            holder["started_at"] = datetime.now(UTC).isoformat()
            holder["worker"] = worker
            lock_holder_write(redis, key, holder, timeout_ms=timeout_ms)


def lock_extend(redis, key: str, *, timeout_ms: int) -> None:
    redis.pexpire(key, timeout_ms)
    redis.pexpire(key + HOLDER_SUFFIX, timeout_ms)


def lock_holder_read(task, key: str) -> dict[str, Any] | None:
    """The holder of a lock with its remaining seconds, or None when nobody holds it."""
    redis = task.lock_redis
    ttl_ms = redis.pttl(key)
    if ttl_ms == -2:  # no such key
        return None
    holder = lock_holder_get(redis, key) or {"celery_task_id": None}
    holder["key"] = key
    holder["expires_in"] = round(ttl_ms / 1000, 1) if ttl_ms >= 0 else None
    return holder


def lock_release(task, key: str, *, celery_task_id: str = "") -> bool:
    """Delete the lock; with celery_task_id, only if that run still holds it."""
    released = task.lock_redis.eval(
        _RELEASE_SCRIPT, 2, key, key + HOLDER_SUFFIX, celery_task_id or ""
    )
    return bool(released)
