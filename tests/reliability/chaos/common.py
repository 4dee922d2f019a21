"""Paths and constants of a chaos run, and its log line."""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RUN_DIR = ROOT / "var" / "chaos"
KINDS = ("worker_child", "worker_node", "worker_stop", "beat", "redis_empty", "postgres_restart")
# 20 chunks of IMPORT_CHUNK_ROWS=1000 a file: work is in flight when a fault comes.
ROWS_PER_FILE = 20_000
DATABASE = "chaos"


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def db_retry(query, *, seconds: float = 60):
    """`query()` from the chaos process's own threads, retried while PostgreSQL restarts."""
    from django.db import OperationalError, close_old_connections

    deadline = time.monotonic() + seconds
    while True:
        try:
            return query()
        except OperationalError:
            close_old_connections()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
