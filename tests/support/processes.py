"""Real Celery worker and beat processes for tests that kill, stop or restart them.

They run with the test settings and point at pytest-django's test database, so
only tests marked `django_db(transaction=True)` can see what they write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
LOG_DIR = BASE_DIR / "var" / "test-logs"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_NAME=connection.settings_dict["NAME"],
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class CeleryProcess:
    """A `celery -A config <command>` subprocess with its own log file."""

    def __init__(self, kind: str, args: list[str], env: dict[str, str] | None = None):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = f"{kind}-{uuid.uuid4().hex[:8]}"
        self.log_path = LOG_DIR / f"{self.name}.log"
        self.command = [sys.executable, "-m", "celery", "-A", "config", kind, *args]
        self.env = env or subprocess_env()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class WorkerProcess(CeleryProcess):
    def __init__(self, *, queues: str = "default,imports,reports,ops", concurrency: int = 2,
                 pool: str = "prefork", extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None):  # fmt: skip
        self.hostname = f"testworker-{uuid.uuid4().hex[:8]}@localhost"
        super().__init__(
            "worker",
            ["-Q", queues, "-c", str(concurrency), "-P", pool, "-n", self.hostname,
             "-l", "info", "--without-gossip", "--without-mingle", *(extra_args or [])],
            env,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> WorkerProcess:
        # The worker's own "ready." line works whichever broker it was pointed at.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()[-3000:]}")
            if f"{self.hostname} ready." in self.log():
                return self
            time.sleep(0.1)
        raise TimeoutError(f"worker {self.hostname} not ready:\n{self.log()[-3000:]}")


class BeatProcess(CeleryProcess):
    def __init__(self, *, env: dict[str, str] | None = None, extra_args: list[str] | None = None):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        schedule_file = LOG_DIR / f"beat-{uuid.uuid4().hex[:8]}"
        super().__init__(
            "beat",
            ["-l", "info", "--pidfile=", "-s", str(schedule_file), *(extra_args or [])],
            env,
        )


def wait_for(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail with `message`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
