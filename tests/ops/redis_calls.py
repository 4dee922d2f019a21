"""Count what a block of code asks Redis: round trips and commands, on the client side.

Every redis-py connection of this process (ours, the cache's, kombu's) writes through
`AbstractConnection.send_packed_command`: one call is one round trip (a pipeline sends
all its commands in one), and the command names are read back from the RESP bytes.
Counted in this process only, so other test workers sharing the server do not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

from redis.connection import AbstractConnection

_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


@dataclass
class RedisCalls:
    round_trips: int = 0
    commands: list[str] = field(default_factory=list)


@contextmanager
def redis_calls() -> Iterator[RedisCalls]:
    calls = RedisCalls()
    send = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        packed = b"".join(
            (item.encode() if isinstance(item, str) else bytes(item))
            for item in ([command] if isinstance(command, (bytes, str)) else command)
        )
        calls.round_trips += 1
        calls.commands += [name.decode().upper() for name in _COMMAND.findall(packed)]
        return send(self, command, check_health=check_health)

    with mock.patch.object(AbstractConnection, "send_packed_command", counting):
        yield calls
