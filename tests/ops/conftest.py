"""Fixtures for ops tests: small intervals for the real subprocesses and this process."""

from __future__ import annotations

import pytest

from ops.periodic import heartbeat_schedules
from schedules.services.default_schedules import default_schedules_sync
from tests.support.processes import subprocess_env

INTERVAL = 2  # seconds between heartbeats (and checks) in the process tests


@pytest.fixture
def ops_settings(settings):
    """This process evaluates status with the same thresholds as the subprocesses."""
    settings.OPS_HEARTBEAT_INTERVAL = INTERVAL
    settings.OPS_CHECK_INTERVAL = INTERVAL
    settings.OPS_THRESHOLDS = {**settings.OPS_THRESHOLDS, "heartbeat_stale": 2 * INTERVAL}
    settings.OPS_BEAT_STALE_AFTER = 3 * INTERVAL
    return settings


@pytest.fixture
def ops_env():
    def build(**extra: str) -> dict[str, str]:
        return subprocess_env(
            OPS_HEARTBEAT_INTERVAL=str(INTERVAL),
            **extra,
        )

    return build


@pytest.fixture
def heartbeat_schedules_in_db(transactional_db):
    default_schedules_sync(entries=heartbeat_schedules(interval=INTERVAL))
