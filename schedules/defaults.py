"""Default schedules as code: the periodic tasks an app declares in its `periodic.py`.

An app's `periodic.py` (imported at start-up by `SchedulesConfig.ready()`) calls

    from schedules import defaults
    defaults.register(name="imports: scan inbox", task="batches.scan_inbox", interval=60)

or, the older form still read, sets a `DEFAULT_SCHEDULES` list of the same entries
as dicts. `manage.py sync_default_schedules` (also run by `make run`) creates or
updates every entry by name. It never touches periodic tasks that admins created, and
it keeps an existing entry's enabled flag and last-run time.

An entry has `name`, `task`, and exactly one of `interval` (seconds) or `crontab` (a
5-field string), plus optional `queue`, `kwargs`, `description`, `timezone` (for
crontab), `catch_up` ("run_once" or "skip"), `overlap` ("skip", "queue_one" or
"allow") and `pause_after_failures` (N). A wrong entry is refused when it is
registered, naming the entry and the field.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab_parser
from django.apps import apps

from schedules.models import ScheduleOptions

REQUIRED = {"name", "task"}
OPTIONAL = {
    "interval", "crontab", "queue", "kwargs", "description", "timezone", "catch_up",
    "overlap", "pause_after_failures",
}  # fmt: skip
# Celery's own crontab parser, field by field: (field, max, min).
CRONTAB_FIELDS = (
    ("minute", 60, 0),
    ("hour", 24, 0),
    ("day of month", 31, 1),
    ("month of year", 12, 1),
    ("day of week", 7, 0),
)

_REGISTERED: dict[str, dict[str, Any]] = {}


class InvalidDefaultSchedule(ValueError):
    pass


def entry_validate(entry: dict[str, Any], *, origin: str = "") -> dict[str, Any]:
    """The entry if it is one beat can honour; InvalidDefaultSchedule naming what is not."""
    where = f"default schedule {entry.get('name', '?')!r}" + (f" in {origin}" if origin else "")

    def refuse(problem: str) -> InvalidDefaultSchedule:
        return InvalidDefaultSchedule(f"{where}: {problem}")

    missing = REQUIRED - set(entry)
    if missing:
        raise refuse(f"missing {', '.join(sorted(missing))}")
    unknown = set(entry) - REQUIRED - OPTIONAL
    if unknown:
        raise refuse(f"unknown field(s) {', '.join(sorted(unknown))}")
    if ("interval" in entry) == ("crontab" in entry):
        raise refuse("give exactly one of interval (seconds) or crontab")
    if "interval" in entry and (not isinstance(entry["interval"], int) or entry["interval"] < 1):
        raise refuse(f"interval must be a whole number of seconds >= 1, got {entry['interval']!r}")
    if "crontab" in entry:
        parts = str(entry["crontab"]).split()
        if len(parts) != len(CRONTAB_FIELDS):
            raise refuse(f"crontab needs 5 fields, got {entry['crontab']!r}")
        for value, (field, max_, min_) in zip(parts, CRONTAB_FIELDS, strict=True):
            try:
                crontab_parser(max_, min_).parse(value)
            except Exception as exc:
                raise refuse(f"crontab {field} {value!r}: {exc}") from exc
    if "timezone" in entry:
        try:
            ZoneInfo(entry["timezone"])
        except Exception as exc:
            raise refuse(f"unknown timezone {entry['timezone']!r}") from exc
    if "catch_up" in entry and entry["catch_up"] not in ScheduleOptions.CatchUp.values:
        raise refuse(
            f"catch_up must be one of {', '.join(ScheduleOptions.CatchUp.values)}, "
            f"got {entry['catch_up']!r}"
        )
    if "overlap" in entry and entry["overlap"] not in ScheduleOptions.Overlap.values:
        raise refuse(
            f"overlap must be one of {', '.join(ScheduleOptions.Overlap.values)}, "
            f"got {entry['overlap']!r}"
        )
    failures = entry.get("pause_after_failures")
    if failures is not None and (not isinstance(failures, int) or failures < 1):
        raise refuse(f"pause_after_failures must be a whole number >= 1, got {failures!r}")
    if not isinstance(entry.get("kwargs", {}), dict):
        raise refuse("kwargs must be a dict")
    return entry


def register(*, name: str, task: str, **fields: Any) -> dict[str, Any]:
    """Declare a default schedule (see the module docstring for the fields)."""
    entry = entry_validate({"name": name, "task": task, **fields})
    known = _REGISTERED.get(name)
    if known is not None and known != entry:
        raise InvalidDefaultSchedule(f"default schedule {name!r} is registered twice, differently")
    _REGISTERED[name] = entry
    return entry


def discover() -> None:
    """Import every installed app's `periodic.py`; take its DEFAULT_SCHEDULES too."""
    for app_config in apps.get_app_configs():
        module_name = f"{app_config.name}.periodic"
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        for entry in getattr(module, "DEFAULT_SCHEDULES", []):
            entry_validate(entry, origin=module_name)
            register(**entry)


def default_schedule_entries() -> list[dict[str, Any]]:
    discover()
    return list(_REGISTERED.values())
