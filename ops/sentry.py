"""Sentry wiring: one init for web, worker and beat, with personal data scrubbed.

Imported from settings, so it must not import models.
"""

from __future__ import annotations

import re
from typing import Any

EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
SCRUBBED = "[scrubbed]"
# Keys whose values may hold personal data or CSV row contents.
SENSITIVE_KEYS = {"row", "rows", "values", "email", "recipients", "to", "cc", "password",
                  "raw", "line", "data"}  # fmt: skip


def scrub(value: Any) -> Any:
    if isinstance(value, str):
        return EMAIL_PATTERN.sub(SCRUBBED, value)
    if isinstance(value, dict):
        return {
            key: SCRUBBED if str(key).lower() in SENSITIVE_KEYS else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    return scrub(event)


def init_sentry(
    *, dsn: str, environment: str, release: str | None, traces_sample_rate: float = 0.0
) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=before_send,
        before_send_transaction=before_send,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(monitor_beat_tasks=False),
            LoggingIntegration(event_level=None),
        ],
    )
