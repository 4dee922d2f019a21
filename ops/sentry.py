"""Sentry wiring: one init for web, worker and beat, with personal data scrubbed.

Imported from settings, so it must not import models.
"""

from __future__ import annotations

import logging
import re
from typing import Any

EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
SCRUBBED = "[scrubbed]"
# Keys whose values may hold personal data or CSV row contents.
SENSITIVE_KEYS = {"row", "rows", "values", "email", "recipients", "to", "cc", "bcc", "password",
                  "raw", "line", "lines", "data", "cells", "csv", "record", "body"}  # fmt: skip
# Task arguments travel in the Celery integration's "celery-job" extra; tasks take ids,
# so numbers stay and any string (which could be a row value) goes.
TASK_ARGUMENT_KEYS = {"args", "kwargs"}


def scrub(value: Any) -> Any:
    """Emails out of every string; values of row-like keys out entirely."""
    if isinstance(value, str):
        return EMAIL_PATTERN.sub(SCRUBBED, value)
    if isinstance(value, dict):
        return {key: _scrub_item(str(key).lower(), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _scrub_item(key: str, item: Any) -> Any:
    if key in SENSITIVE_KEYS:
        # An empty value holds nothing to hide (sentry-sdk 2.x sends an empty request
        # body as {}); keep it empty rather than claim something was taken out.
        return item if item in (None, "", {}, []) else SCRUBBED
    if key in TASK_ARGUMENT_KEYS:
        return _keep_numbers(item)
    return scrub(item)


def _keep_numbers(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {key: _keep_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_keep_numbers(item) for item in value]
    return SCRUBBED


def default_release() -> str:
    """SENTRY_RELEASE, else the git commit Sentry can find, else the package version."""
    from importlib.metadata import PackageNotFoundError, version

    from sentry_sdk.utils import get_default_release

    found = get_default_release()
    if found:
        return found
    try:
        return f"batch-platform@{version('batch-platform')}"
    except PackageNotFoundError:
        return "batch-platform@unknown"


# Event sections whose "values" key is Sentry's own structure, not data.
_STRUCTURED_SECTIONS = ("exception", "breadcrumbs", "threads")


def _scrub_structured(section: Any) -> Any:
    """Keep Sentry's list structure; scrub every entry's data, vars and strings."""
    if not isinstance(section, dict):
        return scrub(section)
    entries = section.get("values")
    if not isinstance(entries, list):
        return scrub(section)
    cleaned = []
    for entry in entries:
        if not isinstance(entry, dict):
            cleaned.append(scrub(entry))
            continue
        entry = {key: (item if key == "stacktrace" else scrub(item)) for key, item in entry.items()}
        stacktrace = entry.get("stacktrace")
        if isinstance(stacktrace, dict) and isinstance(stacktrace.get("frames"), list):
            entry["stacktrace"] = {
                **stacktrace,
                "frames": [scrub(frame) for frame in stacktrace["frames"]],
            }
        cleaned.append(entry)
    return {**section, "values": cleaned}


def before_send(event: Any, hint: dict[str, Any]) -> Any:
    return {
        key: _scrub_structured(value) if key in _STRUCTURED_SECTIONS else scrub(value)
        for key, value in event.items()
    }


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    return scrub(crumb)


# What the SDK may collect by itself: no user identity (ids, emails, IP), cookies, query
# strings (admin searches hold emails), bodies (uploads are CSV rows), SQL parameters or
# frame locals. Request headers only through the SDK's denylist. Task arguments are
# collected so before_send can keep their ids (tasks take ids) and drop every string.
DATA_COLLECTION: dict[str, Any] = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "denylist"}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "gen_ai": {"inputs": False, "outputs": False},
    "database_query_data": False,
    "queues": True,
    "stack_frame_variables": False,
}


def personal_data_options() -> dict[str, Any]:
    """`data_collection` where the SDK has it (it deprecates `send_default_pii`)."""
    try:
        import sentry_sdk.data_collection  # noqa: F401 - present from sentry-sdk 2.7x
    except ImportError:
        return {"send_default_pii": False, "include_local_variables": False}
    return {"data_collection": DATA_COLLECTION}


def sentry_major() -> int:
    from importlib.metadata import version

    return int(version("sentry-sdk").split(".")[0])


def major_specific_options() -> dict[str, Any]:
    """The options one major knows and the other refuses (pyproject.toml admits 2.x and
    3.x). 2.x sends transactions, scrubbed like events; 3.x has no transactions (spans go
    through before_send_span, which only carries span names and timings) and takes
    `before_send_check_in`, which stays off: check-ins carry a monitor slug and a status."""
    if sentry_major() >= 3:
        return {}
    return {"before_send_transaction": before_send}


def init_sentry(
    *,
    dsn: str,
    environment: str,
    release: str | None,
    traces_sample_rate: float = 0.0,
    transport: Any = None,
) -> None:
    """Start Sentry for this process; `transport` lets tests see what would be sent."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or default_release(),
        transport=transport,
        traces_sample_rate=traces_sample_rate,
        max_request_body_size="never",
        **personal_data_options(),
        **major_specific_options(),
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(monitor_beat_tasks=False),
            # Beat and the worker report most trouble by logging it (a schedule that
            # cannot be sent, a lost connection); logged errors become events. Named on
            # purpose: from sentry-sdk 3.0 the logging integration is no longer on by
            # default.
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
    )
