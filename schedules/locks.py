"""Overlap locks in Redis: celery-once's lock key, a holder record, and a waiting slot.

For one job (a task name plus its bound arguments) the keys are:

- `qo_<task name>_<argument values>`: the lock, celery-once's key, from
  `celery_once.helpers.queue_once_key` over the bound arguments exactly as
  `QueueOnce.get_key` builds it, so two schedules running the same task with the
  same arguments share it. Its value is the Celery task id of the run holding it.
- `<key>:holder`: JSON naming that run (`celery_task_id`, `task_name`,
  `periodic_task_id`, `trigger`, `queued_by`, `queued_at`, `started_at`, `worker`),
  with the same expiry, for the admin and the skipped runs' text.
- `<key>:waiting`: the one run waiting behind a running one (policy *queue one*):
  JSON with what is needed to publish it when the lock is released.

Every change of these keys is one Lua script, so two beats, a worker and an admin
never see half a change. Only Redis here: no task classes, no database.
"""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery_once.helpers import import_backend, queue_once_key
from django.conf import settings

HOLDER_SUFFIX = ":holder"
WAITING_SUFFIX = ":waiting"
# Lock keys that have a waiting run, so the reaper finds orphans without a SCAN.
WAITING_INDEX = "schedules:waiting"

# KEYS: lock, holder, waiting, index. ARGV: task id, holder JSON, lifetime ms, policy,
# waiting JSON. Returns {outcome, holder JSON, waiting JSON, promoted waiting JSON}.
_ACQUIRE = """
local promoted = false
if redis.call('EXISTS', KEYS[1]) == 0 then
  local waiting = redis.call('GET', KEYS[3])
  if not waiting then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
    redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
    return {'locked', false, false, false}
  end
  -- The run ahead of the waiting one is gone with its lock: the waiting one goes first.
  local w = cjson.decode(waiting)
  redis.call('DEL', KEYS[3])
  redis.call('SREM', KEYS[4], KEYS[1])
  redis.call('SET', KEYS[1], w['celery_task_id'], 'PX', w['lifetime_ms'])
  redis.call('SET', KEYS[2], w['holder'], 'PX', w['lifetime_ms'])
  promoted = waiting
end
local holder = redis.call('GET', KEYS[2])
if ARGV[4] == 'queue_one' and not promoted and holder then
  local ok, h = pcall(cjson.decode, holder)
  -- Only behind a running run: a run still queued is itself the one that waits.
  if ok and type(h['started_at']) == 'string' then
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 then ttl = 0 end
    if redis.call('SET', KEYS[3], ARGV[5], 'NX', 'PX', ttl + tonumber(ARGV[3])) then
      redis.call('SADD', KEYS[4], KEYS[1])
      return {'waiting', holder, false, false}
    end
  end
end
return {'skipped', holder or false, redis.call('GET', KEYS[3]) or false, promoted}
"""

# KEYS: lock, holder, waiting. ARGV: task id, lifetime ms, started at, worker.
# Returns {1, false} when this run holds the lock (now measured from its start), or
# {0, holder JSON} when its lock expired or another run holds it.
_START = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {0, redis.call('GET', KEYS[2]) or false}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local holder = redis.call('GET', KEYS[2])
if holder then
  local ok, h = pcall(cjson.decode, holder)
  if ok then
    h['started_at'] = ARGV[3]
    h['worker'] = ARGV[4]
    holder = cjson.encode(h)
  end
  redis.call('SET', KEYS[2], holder, 'PX', ARGV[2])
end
local waiting = redis.call('GET', KEYS[3])
if waiting then
  local w = cjson.decode(waiting)
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]) + w['lifetime_ms'])
end
return {1, false}
"""

# KEYS: lock, holder, waiting. ARGV: task id, milliseconds. A retry keeps its lock.
_EXTEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local waiting = redis.call('GET', KEYS[3])
if waiting then
  local w = cjson.decode(waiting)
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]) + w['lifetime_ms'])
end
return 1
"""

# KEYS: lock, holder, waiting, index. ARGV: task id ('' = whoever holds it).
# Deletes the lock if that run holds it (or nobody does any more); a waiting run then
# takes the lock. Returns {released 0/1, promoted waiting JSON}.
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current and ARGV[1] ~= '' and current ~= ARGV[1] then
  return {0, false}
end
redis.call('DEL', KEYS[1], KEYS[2])
local waiting = redis.call('GET', KEYS[3])
if not waiting then
  return {1, false}
end
local w = cjson.decode(waiting)
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], KEYS[1])
redis.call('SET', KEYS[1], w['celery_task_id'], 'PX', w['lifetime_ms'])
redis.call('SET', KEYS[2], w['holder'], 'PX', w['lifetime_ms'])
return {1, waiting}
"""


def lock_redis():
    """celery-once's Redis connection (CELERY_ONCE settings), shared by every lock."""
    return import_backend(settings.CELERY_ONCE).redis


def _call_arguments(task, args, kwargs) -> dict[str, Any]:
    """The bound arguments, as celery-once's QueueOnce._get_call_args binds them."""
    arguments = dict(inspect.signature(task.run).bind(*(args or []), **(kwargs or {})).arguments)
    if isinstance(arguments.get("self"), Task):
        del arguments["self"]
    return arguments


def lock_key(task, task_name: str, args, kwargs) -> str:
    """celery-once's key for this job. `task` None (not registered in this process):
    the arguments as given, since they cannot be bound to names."""
    if task is None:
        return queue_once_key(task_name, {"args": list(args or []), **(kwargs or {})})
    once = getattr(task, "once", None) or {}
    return queue_once_key(task.name, _call_arguments(task, args, kwargs), once.get("keys"))


def _decoded(raw: bytes | str | None) -> dict[str, Any] | None:
    return json.loads(raw) if raw else None


def _keys(key: str) -> list[str]:
    return [key, key + HOLDER_SUFFIX, key + WAITING_SUFFIX, WAITING_INDEX]


def lock_acquire(
    key: str,
    *,
    celery_task_id: str,
    holder: dict[str, Any],
    lifetime_ms: int,
    policy: str,
    waiting: dict[str, Any] | None = None,
) -> tuple[str, dict | None, dict | None, dict | None]:
    """Take the lock, or (policy "queue_one", behind a running run) the waiting slot.

    Returns (outcome "locked" | "waiting" | "skipped", holder, waiting run, promoted):
    `promoted` is a waiting run whose predecessor's lock had expired, which took the
    lock instead (the caller publishes it).
    """
    waiting_json = json.dumps(
        {**(waiting or {}), "celery_task_id": celery_task_id, "lifetime_ms": lifetime_ms,
         "holder": json.dumps(holder)}
    )  # fmt: skip
    outcome, held_by, waits, promoted = lock_redis().eval(
        _ACQUIRE, 4, *_keys(key),
        celery_task_id, json.dumps(holder), lifetime_ms, policy, waiting_json,
    )  # fmt: skip
    outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
    return outcome, _decoded(held_by), _decoded(waits), _decoded(promoted)


def lock_run_started(key: str, *, celery_task_id: str, worker: str, lifetime_ms: int) -> bool:
    """A run starts: True if it still holds its lock (which now lives `lifetime_ms`
    from this start), False if the lock expired or another run holds it."""
    held, _ = lock_redis().eval(
        _START, 3, *_keys(key)[:3],
        celery_task_id, lifetime_ms, datetime.now(UTC).isoformat(), worker,
    )  # fmt: skip
    return bool(held)


def lock_extend(key: str, *, celery_task_id: str, lifetime_ms: int) -> bool:
    return bool(lock_redis().eval(_EXTEND, 3, *_keys(key)[:3], celery_task_id, lifetime_ms))


def lock_release(key: str, *, celery_task_id: str = "") -> tuple[bool, dict | None]:
    """Delete the lock; with celery_task_id, only if that run still holds it (a run
    whose lock an admin released never deletes its successor's). Returns (released,
    the waiting run that took the lock, if any)."""
    released, promoted = lock_redis().eval(_RELEASE, 4, *_keys(key), celery_task_id or "")
    return bool(released), _decoded(promoted)


# Never a Celery task id: releasing "for" it deletes nothing that is held.
_NOBODY = "\x00nobody"


def lock_waiting_promote_if_free(key: str) -> dict | None:
    """If the job's lock is gone (its run's worker died) and a run waits, that run
    takes the lock; returns it (the caller publishes it)."""
    _, promoted = lock_release(key, celery_task_id=_NOBODY)
    return promoted


def lock_holder_read(key: str) -> dict[str, Any] | None:
    """The holder of a lock with its remaining seconds and the run waiting behind it,
    or None when nobody holds it."""
    redis = lock_redis()
    with redis.pipeline() as pipe:
        pipe.pttl(key)
        pipe.get(key + HOLDER_SUFFIX)
        pipe.get(key + WAITING_SUFFIX)
        ttl_ms, raw_holder, raw_waiting = pipe.execute()
    if ttl_ms == -2:  # no such key
        return None
    holder = _decoded(raw_holder) or {"celery_task_id": None}
    holder["key"] = key
    holder["expires_in"] = round(ttl_ms / 1000, 1) if ttl_ms >= 0 else None
    waiting = _decoded(raw_waiting)
    holder["waiting"] = _decoded(waiting["holder"]) if waiting else None
    return holder


def waiting_runs() -> dict[str, dict[str, Any]]:
    """{lock key: waiting run} for every job with a run waiting; drops stale index entries."""
    redis = lock_redis()
    keys = sorted(member.decode() for member in redis.smembers(WAITING_INDEX))
    found = {}
    for key in keys:
        waiting = _decoded(redis.get(key + WAITING_SUFFIX))
        if waiting is None:
            redis.srem(WAITING_INDEX, key)
        else:
            found[key] = waiting
    return found


def locks_held_by_worker(worker: str) -> list[tuple[str, str, str]]:
    """(key, Celery task id, started at) of every overlap lock whose holder record names
    `worker` (a Celery node name) as running it. A scan of the holder records: for the
    rare moment a worker node is known to have died."""
    redis = lock_redis()
    held = []
    for name in redis.scan_iter(match="*" + HOLDER_SUFFIX, count=500):
        raw = redis.get(name)
        holder = _decoded(raw) if raw else None
        if holder and holder.get("worker") == worker:
            key = (name.decode() if isinstance(name, bytes) else name)[: -len(HOLDER_SUFFIX)]
            held.append(
                (key, str(holder.get("celery_task_id", "")), str(holder.get("started_at") or ""))
            )
    return held
