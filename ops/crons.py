"""Sentry cron check-ins for beat-scheduled tasks.

Every periodic task sent by beat (django-celery-beat puts `periodic_task_name` in the
message headers) reports `in_progress` when a worker starts it and `ok` / `error`
when it ends, to a monitor named after the periodic task, whose schedule Sentry
learns from `monitor_config`. Sentry then also notices a run that never came.

A run the overlap lock refused (skipped when due, or expired in the queue) never
runs, so it would look missed: for it we send one complete `ok` check-in for that
slot (or close the one already open), and never an `in_progress`.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import sentry_sdk
from celery import signals as celery_signals
from celery import states
from django.conf import settings
from django.utils.text import slugify
from sentry_sdk.crons import capture_checkin

from ops import state
from schedules.guard import refused_runs

logger = logging.getLogger(__name__)

CHECKIN_KEY = state.PREFIX + "cron:"
SLUG_MAX = 50
_INTERVAL_UNITS = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 1440}


def monitor_slug(periodic_task_name: str) -> str:
    return slugify(periodic_task_name)[:SLUG_MAX].strip("-") or "periodic-task"


def monitor_config_for(periodic_task: Any, *, time_limit: float | None = None) -> dict | None:
    """Sentry's monitor_config from a django-celery-beat PeriodicTask's schedule."""
    config: dict[str, Any]
    if periodic_task.crontab_id:
        crontab = periodic_task.crontab
        config = {
            "schedule": {
                "type": "crontab",
                "value": " ".join(
                    [
                        crontab.minute,
                        crontab.hour,
                        crontab.day_of_month,
                        crontab.month_of_year,
                        crontab.day_of_week,
                    ]
                ),
            },
            "timezone": str(crontab.timezone),
        }
    elif periodic_task.interval_id:
        interval = periodic_task.interval
        minutes = interval.every * _INTERVAL_UNITS.get(interval.period, 1)
        # Sentry's smallest unit is the minute.
        config = {
            "schedule": {"type": "interval", "value": max(1, math.ceil(minutes)), "unit": "minute"}
        }
    else:
        return None  # solar and clocked schedules have no Sentry equivalent
    config["checkin_margin"] = settings.OPS_SENTRY_CHECKIN_MARGIN
    if time_limit:
        config["max_runtime"] = max(1, math.ceil(time_limit / 60))
    return config


def _sentry_active() -> bool:
    return sentry_sdk.get_client().is_active()


def _periodic_task(*, name: str | None = None, pk: int | None = None) -> Any:
    from django_celery_beat.models import PeriodicTask

    query = PeriodicTask.objects.select_related("interval", "crontab")
    return query.filter(pk=pk).first() if pk is not None else query.filter(name=name).first()


def _monitored(task_name: str) -> bool:
    return task_name not in settings.OPS_SENTRY_CRONS_EXCLUDE


def on_task_prerun(
    sender: Any = None, task_id: str | None = None, task: Any = None, **kw: Any
) -> None:
    if task is None or not task_id or not _sentry_active() or not _monitored(task.name):
        return
    name = getattr(task.request, "periodic_task_name", None)
    if not name or task_id in refused_runs:
        return  # not periodic, or refused by its expired overlap lock: it never runs
    try:
        key = CHECKIN_KEY + task_id
        if state.client().exists(key):
            return  # a retry of a run whose check-in is already open
        periodic_task = _periodic_task(name=name)
        time_limit = task.time_limit or task.app.conf.task_time_limit
        config = monitor_config_for(periodic_task, time_limit=time_limit) if periodic_task else None
        slug = monitor_slug(name)
        check_in_id = capture_checkin(
            monitor_slug=slug, status="in_progress", monitor_config=config
        )
        state.client().set(
            key,
            json.dumps({"id": check_in_id, "slug": slug, "started": state.now_ts()}),
            ex=int(time_limit or 3600) + 600,
        )
    except Exception:
        # Monitoring must never stop the task itself.
        logger.exception("Sentry check-in for %s failed", name)


def on_task_postrun(sender: Any = None, task_id: str | None = None, task: Any = None,
                    state: str | None = None, **kw: Any) -> None:  # fmt: skip
    if not task_id or not _sentry_active() or state == states.RETRY:
        return
    _close(task_id=task_id, status="ok" if state in (states.SUCCESS, states.IGNORED) else "error")


def _close(*, task_id: str, status: str) -> bool:
    from ops import state as ops_state

    key = CHECKIN_KEY + task_id
    raw = ops_state.client().getdel(key)
    if not raw:
        return False
    opened = json.loads(raw)
    capture_checkin(
        monitor_slug=opened["slug"],
        check_in_id=opened["id"],
        status=status,
        duration=ops_state.now_ts() - opened["started"],
    )
    return True


def on_periodic_run_skipped(sender: Any = None, task_name: str = "", periodic_task_id: int | None = None,
                            celery_task_id: str | None = None, reason: str = "", **kw: Any) -> None:  # fmt: skip
    """A refused run: one complete `ok` for its slot, or close the one already open."""
    if not _sentry_active() or not _monitored(task_name):
        return
    try:
        if celery_task_id and _close(task_id=celery_task_id, status="ok"):
            return
        periodic_task = _periodic_task(pk=periodic_task_id) if periodic_task_id else None
        if periodic_task is None:
            return  # a manual run: no monitor expects it
        capture_checkin(
            monitor_slug=monitor_slug(periodic_task.name),
            status="ok",
            duration=0.0,
            monitor_config=monitor_config_for(periodic_task),
        )
    except Exception:
        logger.exception("Sentry check-in for skipped %s failed", task_name)


def connect() -> None:
    from schedules.signals import periodic_run_skipped

    celery_signals.task_prerun.connect(on_task_prerun, weak=False)
    celery_signals.task_postrun.connect(on_task_postrun, weak=False)
    periodic_run_skipped.connect(on_periodic_run_skipped, weak=False)
