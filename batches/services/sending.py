"""Enqueue the pipeline's tasks by their registered names.

`batches.tasks` imports the services; the services never import it back (that would
be an import cycle). A task is sent through a signature built from its explicit
`name=`, which Celery resolves to the registered task when it is loaded in this
process (its options apply) and otherwise sends by name; routing is by name too
(`batches.*` goes to the imports queue).
"""

from __future__ import annotations

import logging

from celery import chord, current_app
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

PLAN_IMPORT = "batches.plan_import"
IMPORT_CHUNK = "batches.import_chunk"
FINISH_IMPORT = "batches.finish_import"


def plan_send(*, job_id: int) -> bool:
    """Send `batches.plan_import`; a broker that is down is logged, not raised.

    The job is committed QUEUED either way: raising here would only lose the upload
    page's response (the commit has happened), and `jobs_resume_stalled` re-sends
    the planner of a job queued longer than IMPORT_REQUEUE_SECONDS.
    """
    try:
        # ignore_result: nobody reads the planner's result, and a tracked result would
        # first subscribe to the result backend, which fails differently (and for
        # good, in a web process) when Redis is down.
        current_app.signature(PLAN_IMPORT, args=[job_id], ignore_result=True).delay()
    except BrokerError:
        logger.exception(
            "import #%s: could not send plan_import (broker down); it stays queued and "
            "is re-sent by batches.resume_stalled_imports",
            job_id,
        )
        return False
    return True


def chord_start(*, job_id: int, chunk_ids: list[int], phase: str) -> None:
    """One `import_chunk` per chunk, then `finish_import` once they have all ended."""
    app = current_app
    phase = str(phase)  # a Phase member's value: the message is plain JSON
    header = [
        app.signature(IMPORT_CHUNK, args=[chunk_id, phase], immutable=True)
        for chunk_id in chunk_ids
    ]
    chord(header)(app.signature(FINISH_IMPORT, args=[job_id, phase], immutable=True))
