"""Enqueue the pipeline's tasks by their registered names.

`batches.tasks` imports the services; the services never import it back (that would
be an import cycle). A task is sent through a signature built from its explicit
`name=`, which Celery resolves to the registered task when it is loaded in this
process (its options apply) and otherwise sends by name; routing is by name too
(`batches.*` goes to the imports queue).
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from celery import chord, current_app
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from batches.models import ImportJob

logger = logging.getLogger(__name__)

PLAN_IMPORT = "batches.plan_import"
IMPORT_CHUNK = "batches.import_chunk"
FINISH_IMPORT = "batches.finish_import"
# What an unreachable Redis raises: the broker's error when a message is published,
# the result backend's when a chord stores its size first.
UNREACHABLE = (BrokerError, RedisError, ConnectionError)


def plan_send(*, job_id: int, due: dt.datetime | None = None) -> bool:
    """Send `batches.plan_import`; True once the broker has it.

    A broker that is down is one warning line, not an exception: the job is committed
    QUEUED with its planner due (`due`, from `job_mark_queued`), and the relay
    (`batches.services.relay`) sends it when the broker answers. Without `due` (a re-send) nothing is cleared.
    """
    try:
        # ignore_result: nobody reads the planner's result, and a tracked result would
        # first subscribe to the result backend, which fails differently (and for
        # good, in a web process) when Redis is down.
        current_app.signature(PLAN_IMPORT, args=[job_id], ignore_result=True).delay()
    except UNREACHABLE as exc:
        _unreachable(job_id, "its planner", exc)
        return False
    dispatch_done(job_id=job_id, due=due)
    return True


def chord_start(
    *,
    job_id: int,
    chunk_ids: list[int],
    phase: str,
    due: dt.datetime | None = None,
    tried: dict[int, int] | None = None,
) -> bool:
    """One `import_chunk` per chunk, then `finish_import` once they have all ended.

    `tried`: chunks already tried that many times (the planner's try of the first
    one): their task has as many tries fewer, and starts after the first backoff.
    True once the broker has them; a broker that is down leaves the chord due in the
    job row (`due`, from `job_mark_running`) for the relay.
    """
    app = current_app
    phase = str(phase)  # a Phase member's value: the message is plain JSON
    tried = tried or {}
    header = [
        app.signature(
            IMPORT_CHUNK,
            args=[chunk_id, phase],
            kwargs={"tried": tried[chunk_id]} if chunk_id in tried else {},
            immutable=True,
            **({"countdown": random.uniform(0, 1)} if chunk_id in tried else {}),
        )
        for chunk_id in chunk_ids
    ]
    try:
        chord(header)(app.signature(FINISH_IMPORT, args=[job_id, phase], immutable=True))
    except UNREACHABLE as exc:
        _unreachable(job_id, f"{len(chunk_ids)} chunks", exc)
        return False
    dispatch_done(job_id=job_id, due=due)
    return True


def dispatch_done(*, job_id: int, due: dt.datetime | None) -> None:
    """The message due since `due` is with the broker: clear it, unless the job has
    since needed another one (a later `due`), which stays for its own sender."""
    if due is not None:
        ImportJob.objects.filter(id=job_id, dispatch_due_at=due).update(dispatch_due_at=None)


def _unreachable(job_id: int, what: str, exc: BaseException) -> None:
    # One line, no traceback: this is an expected state with a known way out.
    logger.warning(
        "import #%s: the broker is unreachable (%s: %s); %s stays due in PostgreSQL and "
        "the relay sends it as soon as the broker answers",
        job_id, type(exc).__name__, exc, what,
    )  # fmt: skip
