"""The stack a chaos run starts: its own Redis and database, two workers, two beats."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from tests.reliability.chaos.common import DATABASE, RUN_DIR, log


def prepare_environment(redis_port: int) -> dict[str, str]:
    """Own Redis URL, own database on the embedded PostgreSQL, settings for every process."""
    from devstack.services import ensure_services

    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DATABASE_URL"):
        os.environ.pop(name, None)
    ensure_services()  # PostgreSQL only: REDIS_URL is set
    import psycopg

    server_url = os.environ["DATABASE_URL"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    parts = urlsplit(server_url)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{DATABASE}"))
    media = RUN_DIR / "media"
    shutil.rmtree(media, ignore_errors=True)
    media.mkdir(parents=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="False",
        MEDIA_ROOT=str(media),
        IMPORT_CHUNK_ROWS="1000",
        IMPORT_INBOX_SETTLE_SECONDS="2",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    return dict(os.environ)


class Stack:
    """Redis, two worker nodes and two beats; restarts what exits unless told not to."""

    def __init__(self, env: dict[str, str], redis_port: int) -> None:
        self.env = env
        self.redis_port = redis_port
        self.redis_dir = RUN_DIR / "redis"
        self.workers: dict[str, object] = {}
        self.beats: dict[str, object] = {}
        self.held_down: set[str] = set()  # names a fault has down on purpose
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        from devstack.services import start_redis

        shutil.rmtree(self.redis_dir, ignore_errors=True)
        self.redis_dir.mkdir(parents=True)
        start_redis(redis_dir=self.redis_dir, port=self.redis_port)
        for name in ("chaos-a@localhost", "chaos-b@localhost"):
            self.worker_start(name)
        for name in ("beat-a", "beat-b"):
            self.beat_start(name)

    def worker_start(self, name: str):
        from tests.support.processes import WorkerProcess

        worker = WorkerProcess(queues="default,imports,reports,ops", concurrency=2, env=self.env)
        worker.hostname = name
        worker.command[worker.command.index("-n") + 1] = name
        self.workers[name] = worker.start()
        return worker

    def beat_start(self, name: str):
        from tests.support.processes import BeatProcess

        self.beats[name] = BeatProcess(env=self.env).start()
        return self.beats[name]

    def redis_restart_empty(self) -> None:
        from devstack.services import restart_redis_empty

        restart_redis_empty(redis_dir=self.redis_dir, port=self.redis_port)

    def supervise(self) -> None:
        """A worker or beat that exited by itself is started again (a supervisor's job)."""
        with self.lock:
            for name, process in list(self.workers.items()) + list(self.beats.items()):
                if name in self.held_down or process.process.poll() is None:
                    continue
                self.events.append({"at": time.time(), "event": "supervisor restart", "of": name})
                log(f"supervisor: {name} exited by itself; starting it again")
                if name in self.workers:
                    self.worker_start(name)
                else:
                    self.beat_start(name)

    def stop(self) -> None:
        from devstack.services import stop_redis

        for process in list(self.workers.values()) + list(self.beats.values()):
            with contextlib.suppress(ProcessLookupError, OSError):
                os.killpg(process.pid, signal.SIGCONT)
            process.stop(timeout=15)
        stop_redis(redis_dir=self.redis_dir)
