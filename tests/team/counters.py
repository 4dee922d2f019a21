"""What the team's tasks count in Redis, so that a test can see it from outside the
worker: team:running:<key> and its peak team:peak:<key> (how many ran at once)."""

import redis
from django.conf import settings

# INCR the running count and keep its peak: how many runs of one key ran at once.
_ENTER = """
local now = redis.call('INCR', KEYS[1])
if now > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], now) end
return now
"""


def team_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def running_enter(client: redis.Redis, key: str) -> int:
    """One more run of `key` is running; returns how many are."""
    return int(client.eval(_ENTER, 2, f"team:running:{key}", f"team:peak:{key}"))


def running_leave(client: redis.Redis, key: str) -> None:
    client.decr(f"team:running:{key}")
