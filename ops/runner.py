"""Daemon threads in beat and the workers: the checks, worker liveness, dead-worker recovery.

Checks must not depend on the queue they check, so they are not (only) a task: beat
runs them and sees every queue stall, `ops` included; workers on `ops` run them and
see beat die. A Redis lock lets one of them run per interval.

Every worker also refreshes its liveness key, and every worker and beat look for dead
workers whose messages must be sent again (`ops.recovery`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial

import redis
from django.conf import settings
from django.db import connection

from ops import state

logger = logging.getLogger(__name__)

_loops: list[Loop] = []


class Loop(threading.Thread):
    """Calls `tick()` every `interval` seconds until stopped; a failing tick is logged."""

    def __init__(self, *, name: str, interval: float, tick: Callable[[], object]) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = float(interval)
        self._tick = tick
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.tick()
        connection.close()

    def stop(self) -> None:
        self._stopped.set()

    def tick(self) -> object:
        try:
            return self._tick()
        except Exception:
            # A failed tick must not kill the loop; the next one tries again. Logged
            # at error level, so Sentry gets it too.
            logger.exception("%s failed", self.name)
            return False
        finally:
            connection.close()


class ChecksLoop(Loop):
    def __init__(self, *, owner: str, interval: float | None = None) -> None:
        super().__init__(
            name=f"ops-checks-{owner}",
            interval=interval or settings.OPS_CHECK_INTERVAL,
            tick=self._run_checks,
        )
        self.owner = owner

    def _run_checks(self) -> bool:
        """Run the checks if no other loop ran them this interval; True when this one did."""
        from ops.services import ops_checks_run

        # Slightly shorter than the interval, so the next tick of any loop gets it.
        lock_ms = max(100, int(self.interval * 900))
        try:
            if not state.client().set(state.CHECKS_LOCK, self.owner, nx=True, px=lock_ms):
                return False
        except redis.RedisError:
            # Without Redis there is no lock, and the checks are what must say Redis is
            # down: run them anyway. Two checkers at once open one alert (the database
            # refuses a second open row for a condition).
            logger.warning("%s: Redis does not answer; checking without the lock", self.name)
        ops_checks_run()
        return True


def _start(loop: Loop) -> Loop:
    loop.start()
    _loops.append(loop)
    logger.info("%s started, every %ss", loop.name, loop.interval)
    return loop


def start_loop(*, name: str, interval: float, tick: Callable[[], object]) -> Loop:
    """A loop of another app's (a relay, a sweep that must not wait for the broker),
    stopped with these at worker shutdown."""
    return _start(Loop(name=name, interval=interval, tick=tick))


def start_checks_loop(*, owner: str) -> Loop:
    return _start(ChecksLoop(owner=owner))


def start_liveness_loop() -> Loop:
    """This worker says it is alive, and forgets the messages it has acknowledged."""
    from ops.recovery import held_messages_prune, worker_instance_refresh

    def refresh() -> None:
        worker_instance_refresh()
        held_messages_prune()

    return _start(
        Loop(name="ops-liveness", interval=settings.OPS_WORKER_ALIVE_INTERVAL, tick=refresh)
    )


def start_recovery_loop(*, owner: str, replacing: str = "") -> Loop:
    """Look for dead workers now and every OPS_RECOVERY_INTERVAL; send their work again.

    `replacing`: this worker's node name; a predecessor with the same name (the same
    container restarted) is taken over at once, not after its liveness key expires.
    """
    from ops.recovery import dead_workers_recover

    name = f"ops-recovery-{owner}"
    first = Loop(
        name=name, interval=0, tick=partial(dead_workers_recover, owner=owner, replacing=replacing)
    )
    first.tick()  # in the starting thread: its predecessor's work goes back at once
    loop = Loop(
        name=name,
        interval=settings.OPS_RECOVERY_INTERVAL,
        tick=partial(dead_workers_recover, owner=owner),
    )
    return _start(loop)


def stop_loops() -> None:
    while _loops:
        _loops.pop().stop()
