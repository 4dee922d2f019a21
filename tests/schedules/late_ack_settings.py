"""Test settings for subprocess workers whose standard-API tasks are acknowledged late
(the backend's OPTIONS), so that a killed worker's run is sent again by ops'
dead-worker recovery."""

from config.settings.test import *  # noqa: F403

TASKS = {
    "default": {
        "BACKEND": "schedules.tasks_backend.CeleryBackend",
        "OPTIONS": {"ACKS_LATE": True, "REJECT_ON_WORKER_LOST": True},
    }
}
