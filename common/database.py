"""Waiting out a database that restarts (a failover, an upgrade: seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, close_old_connections

T = TypeVar("T")


def database_retried(step: Callable[[], T], *, seconds: float) -> T:
    """`step()` (its own transaction, or calls safe to make twice), tried again on a
    fresh connection while the database does not answer; after `seconds`, the last
    error. A connection a restart broke fails its next query even after Django's
    health check passed; closed here, the next query opens a new one."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except (OperationalError, InterfaceError):
            close_old_connections()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
