"""Seeded faults, injected into the running stack."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time

from tests.reliability.chaos.common import log
from tests.reliability.chaos.stack import Stack

WARM_UP = 15.0


class Faults(threading.Thread):
    """Seeded faults, kinds in a shuffled cycle so each comes up in turn: one every 10-25
    s, closer together in a short run so that every kind still comes up twice."""

    def __init__(self, stack: Stack, rng: random.Random, kinds: list[str], until: float) -> None:
        super().__init__(name="chaos-faults", daemon=True)
        self.stack, self.rng, self.kinds, self.until = stack, rng, kinds, until
        span = until - time.monotonic() - WARM_UP
        self.gap_max = max(6.0, min(25.0, span / (2 * max(1, len(kinds)))))
        self.gap_min = min(10.0, self.gap_max / 2)
        self.injected: list[dict] = []
        self.pending: list[threading.Thread] = []

    def run(self) -> None:
        time.sleep(WARM_UP)  # the first imports get going
        cycle: list[str] = []
        while time.monotonic() < self.until:
            if not cycle:
                cycle = self.kinds[:]
                self.rng.shuffle(cycle)
            kind = cycle.pop()
            if not self.inject(kind):
                cycle.append(kind)  # no target yet (a worker still starting): soon again
                time.sleep(2)
                continue
            time.sleep(self.rng.uniform(self.gap_min, self.gap_max))

    def later(self, seconds: float, action) -> None:
        thread = threading.Timer(seconds, action)
        thread.start()
        self.pending.append(thread)

    def inject(self, kind: str) -> bool:
        """Inject one fault of `kind`; False if it found nothing to hit."""
        import psutil

        stack, rng = self.stack, self.rng
        at = time.time()
        with stack.lock:
            workers = [n for n in stack.workers if n not in stack.held_down]
            beats = [n for n in stack.beats if n not in stack.held_down]
            target = ""
            if kind == "worker_child" and workers:
                node = rng.choice(workers)
                children = psutil.Process(stack.workers[node].pid).children()
                if children:
                    child = rng.choice(children)
                    os.kill(child.pid, signal.SIGKILL)
                    target = f"{node} pool process {child.pid}"
            elif kind in ("worker_node", "worker_stop") and workers:
                target = rng.choice(workers)
                pid = stack.workers[target].pid
                stack.held_down.add(target)
                if kind == "worker_node":
                    os.killpg(pid, signal.SIGKILL)
                    delay = rng.uniform(2, 10)
                    self.later(delay, lambda t=target: self._back(t, restart=True))
                else:
                    os.killpg(pid, signal.SIGSTOP)
                    delay = rng.uniform(25, 35)  # longer than OPS_WORKER_DEAD_AFTER (20 s)
                    self.later(delay, lambda t=target, p=pid: self._back(t, restart=False, pid=p))
                target += f" for {delay:.0f} s"
            elif kind == "beat" and beats:
                target = rng.choice(beats)
                stack.held_down.add(target)
                os.killpg(stack.beats[target].pid, signal.SIGKILL)
                delay = rng.uniform(1, 5)
                self.later(delay, lambda t=target: self._back(t, restart=True))
                target += f" for {delay:.0f} s"
            elif kind == "redis_empty":
                stack.redis_restart_empty()
                target = "redis (restarted empty)"
        if target:
            self.injected.append({"at": at, "kind": kind, "target": target})
            log(f"fault: {kind} -> {target}")
        return bool(target)

    def _back(self, name: str, *, restart: bool, pid: int | None = None) -> None:
        stack = self.stack
        with stack.lock:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGCONT)
            elif name in stack.workers:
                stack.worker_start(name)
            else:
                stack.beat_start(name)
            stack.held_down.discard(name)
        log(f"back: {name}")

    def wait_pending(self) -> None:
        for thread in self.pending:
            thread.join()
