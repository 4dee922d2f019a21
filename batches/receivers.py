"""Celery signal receivers of the imports app; connected in BatchesConfig.ready()."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """Every worker runs the relay (`batches.services.relay`) in its main process."""
    from batches.services.relay import relay_tick
    from ops.runner import start_loop

    start_loop(
        name="batches-relay",
        interval=settings.IMPORT_RELAY_INTERVAL,
        tick=partial(relay_tick, owner=getattr(sender, "hostname", "worker")),
    )
