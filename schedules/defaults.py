"""The platform's own periodic tasks, declared as code.

Each installed app may declare `DEFAULT_SCHEDULES` in its own `periodic.py`;
`manage.py sync_default_schedules` (also run by `make run`) creates or updates every
entry by name. It never touches periodic tasks that admins created, and it keeps an
existing entry's enabled flag and last-run time.

An entry is a dict with `name`, `task`, and exactly one of `interval` (seconds) or
`crontab` (a 5-field string), plus optional `queue`, `kwargs`, `description`,
`timezone` (for crontab).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import apps


def default_schedule_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for app_config in apps.get_app_configs():
        try:
            module = import_module(f"{app_config.name}.periodic")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_config.name}.periodic":
                raise
            continue
        entries.extend(getattr(module, "DEFAULT_SCHEDULES", []))
    return entries
