"""The checks loop: a daemon thread in beat and in every worker that consumes `ops`.

Checks must not depend on the queue they check, so they are not (only) a task: beat
runs them and sees every queue stall, `ops` included; workers on `ops` run them and
see beat die. A Redis lock lets one of them run per interval.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection

from ops import state

logger = logging.getLogger(__name__)

_loops: list[ChecksLoop] = []


class ChecksLoop(threading.Thread):
    def __init__(self, *, owner: str, interval: float | None = None) -> None:
        super().__init__(name=f"ops-checks-{owner}", daemon=True)
        self.owner = owner
        self.interval = float(interval or settings.OPS_CHECK_INTERVAL)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.tick()
        connection.close()

    def stop(self) -> None:
        self._stopped.set()

    def tick(self) -> bool:
        """Run the checks if no other loop ran them this interval; True when this one did."""
        from ops.services import ops_checks_run

        try:
            # Slightly shorter than the interval, so the next tick of any loop gets it.
            lock_ms = max(100, int(self.interval * 900))
            if not state.client().set(state.CHECKS_LOCK, self.owner, nx=True, px=lock_ms):
                return False
            ops_checks_run()
            return True
        except Exception:
            # A failed check must not kill the loop; the next tick tries again. Logged
            # at error level, so Sentry gets it too.
            logger.exception("ops checks failed in %s", self.owner)
            return False
        finally:
            connection.close()


def start_checks_loop(*, owner: str) -> ChecksLoop:
    loop = ChecksLoop(owner=owner)
    loop.start()
    _loops.append(loop)
    logger.info("ops checks loop started in %s every %ss", owner, loop.interval)
    return loop


def stop_checks_loops() -> None:
    while _loops:
        _loops.pop().stop()
