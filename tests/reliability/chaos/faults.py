"""Seeded faults, injected into the running stack."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Callable

from tests.reliability.chaos.common import log
from tests.reliability.chaos.stack import Stack

WARM_UP = 12.0
# A planned Redis outage straddles a report's due time: down this long before it...
OUTAGE_LEAD = 3.0
# ...and this long in all (beat, the report's trigger and any upload meet a dead Redis).
OUTAGE_SECONDS = 8.0


class Faults(threading.Thread):
    """Seeded faults, kinds in a shuffled cycle so each comes up in turn: one every 10-25
    s, closer together in a short run so that every kind still comes up twice. Besides,
    Redis is taken down over every other report due time (`outages_at`, epoch seconds),
    and `on_redis_down` is called then (the workload queues an import)."""

    def __init__(self, stack: Stack, rng: random.Random, kinds: list[str], until: float, *,
                 outages_at: list[float] = (), on_redis_down: Callable[[], None] | None = None,
                 ) -> None:  # fmt: skip
        super().__init__(name="chaos-faults", daemon=True)
        self.stack, self.rng, self.kinds, self.until = stack, rng, kinds, until
        span = until - time.monotonic() - WARM_UP
        self.gap_max = max(6.0, min(25.0, span / (2 * max(1, len(kinds)))))
        self.gap_min = min(10.0, self.gap_max / 2)
        self.outages_at = sorted(outages_at) if "redis_empty" in kinds else []
        self.on_redis_down = on_redis_down
        self.injected: list[dict] = []
        self.pending: list[threading.Thread] = []

    def run(self) -> None:
        time.sleep(WARM_UP)  # the first imports get going
        cycle: list[str] = []
        while time.monotonic() < self.until:
            gap = self.rng.uniform(self.gap_min, self.gap_max)
            if self.outages_at and self.outages_at[0] - OUTAGE_LEAD - time.time() < gap:
                due = self.outages_at.pop(0)
                time.sleep(max(0.0, due - OUTAGE_LEAD - time.time()))
                self.inject("redis_empty", downtime=OUTAGE_SECONDS, why="over a report's due time")
                time.sleep(gap)
                continue
            if not cycle:
                cycle = self.kinds[:]
                self.rng.shuffle(cycle)
            kind = cycle.pop()
            if not self.inject(kind):
                cycle.append(kind)  # no target yet (a worker still starting): soon again
                time.sleep(2)
                continue
            time.sleep(gap)

    def later(self, seconds: float, action) -> None:
        thread = threading.Timer(seconds, action)
        thread.start()
        self.pending.append(thread)

    def inject(self, kind: str, *, downtime: float | None = None, why: str = "") -> bool:
        """Inject one fault of `kind`; False if it found nothing to hit."""
        import psutil

        stack, rng = self.stack, self.rng
        fault: dict = {"at": time.time(), "kind": kind, "killed_pids": []}
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
                    fault["killed_pids"] = [child.pid]
                    target = f"{node} pool process {child.pid}"
                    fault["back_at"] = fault["at"]
            elif kind in ("worker_node", "worker_stop") and workers:
                target = rng.choice(workers)
                pid = stack.workers[target].pid
                stack.held_down.add(target)
                if kind == "worker_node":
                    with contextlib.suppress(psutil.Error):
                        fault["killed_pids"] = [pid] + [
                            child.pid for child in psutil.Process(pid).children(recursive=True)
                        ]
                    os.killpg(pid, signal.SIGKILL)
                    delay = rng.uniform(2, 10)
                    self.later(delay, lambda t=target, f=fault: self._back(t, f, restart=True))
                else:
                    with contextlib.suppress(psutil.Error):
                        fault["frozen_pids"] = [
                            child.pid for child in psutil.Process(pid).children(recursive=True)
                        ]
                    os.killpg(pid, signal.SIGSTOP)
                    delay = rng.uniform(25, 35)  # longer than OPS_WORKER_DEAD_AFTER (20 s)
                    self.later(delay, lambda t=target, f=fault, p=pid: self._back(
                        t, f, restart=False, pid=p))  # fmt: skip
                target += f" for {delay:.0f} s"
            elif kind == "beat" and beats:
                target = rng.choice(beats)
                stack.held_down.add(target)
                os.killpg(stack.beats[target].pid, signal.SIGKILL)
                delay = rng.uniform(1, 5)
                self.later(delay, lambda t=target, f=fault: self._back(t, f, restart=True))
                target += f" for {delay:.0f} s"
            elif kind == "redis_empty":
                delay = downtime if downtime is not None else rng.uniform(0, 4)
                stack.redis_stop()
                target = f"redis (down {delay:.0f} s, started empty)" + (f", {why}" if why else "")
                self.later(delay, lambda f=fault: self._redis_back(f))
            elif kind == "postgres_restart":
                stack.postgres_restart()
                fault["back_at"] = time.time()
                target = f"postgresql (immediate shutdown, back after {fault['back_at'] - fault['at']:.1f} s)"
        if target:
            fault["target"] = target
            self.injected.append(fault)
            log(f"fault: {kind} -> {target}")
            if kind == "redis_empty" and why and self.on_redis_down:
                threading.Thread(target=self.on_redis_down, daemon=True).start()
        return bool(target)

    def _redis_back(self, fault: dict) -> None:
        from devstack.services import _redis_alive

        if not _redis_alive(self.stack.redis_port):  # another outage may have ended first
            self.stack.redis_start()
        fault["back_at"] = time.time()
        log("back: redis")

    def _back(self, name: str, fault: dict, *, restart: bool, pid: int | None = None) -> None:
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
        fault["back_at"] = time.time()
        log(f"back: {name}")

    def wait_pending(self) -> None:
        for thread in self.pending:
            thread.join()

    @property
    def last_fault_over(self) -> float:
        """When the last fault was over (its target back), epoch seconds."""
        return max((f.get("back_at", f["at"]) for f in self.injected), default=time.time())
