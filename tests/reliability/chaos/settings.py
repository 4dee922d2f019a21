"""Settings of every process a chaos run starts: the local settings, plus the test-only
team app (its datasets, report kind and tasks are part of the workload)."""

from config.settings.local import *  # noqa: F403
from config.settings.local import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.team.apps.TeamConfig"]
