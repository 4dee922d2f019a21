"""The relay: send the messages PostgreSQL says are due but the broker never got.

Each import job is its own outbox row (`ImportJob.dispatch_due_at`): the transition
that makes a message necessary sets it, the send clears it. A send that failed (Redis
unreachable when a user queued an import, or when a worker started a chord) leaves it
set, and the relay sends it again: a thread in every worker's main process
(`batches.receivers`) ticks every IMPORT_RELAY_INTERVAL seconds, one process per tick
(a Redis lock, which doubles as the probe: while Redis does not answer there is
nothing to do). It does not wait for the broker to deliver it a message, so it sends
within one interval of Redis answering again. Everything it sends is idempotent: the
planner plans a QUEUED job once, a chunk that is done or running (its row lock) is
not run again, the callback finishes a job once.

Redis losing its data (a restart of a Redis that keeps nothing, a failover) takes the
messages of every unfinished import with it, and chord counters too. The relay
notices within one interval (`ops.brokerloss`: its marker key is gone), declares the
platform's queues again and marks every unfinished job due, so the same tick re-drives
what PostgreSQL says is unfinished instead of waiting for the stall sweep.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from batches.models import ImportChunk, ImportJob
from batches.services import sending
from batches.services.finishing import job_finish
from ops import state
from ops.brokerloss import broker_data_loss_unhandled, broker_data_lost, broker_queues_declare

logger = logging.getLogger(__name__)

# A message due for less than this is left to the process that made it due, which
# sends it right after its commit: the relay would only send it a second time.
DISPATCH_GRACE = dt.timedelta(seconds=2)
RELAY_LOCK = "batches:relay:lock"


def relay_tick(*, owner: str) -> dict | None:
    """One pass of the relay, unless another process has this interval or Redis does
    not answer (then nothing could be sent anyway); what it did, or None."""
    lock_ms = max(100, int(settings.IMPORT_RELAY_INTERVAL * 900))
    try:
        if not state.client().set(RELAY_LOCK, owner, nx=True, px=lock_ms):
            return None
        lost = broker_data_lost(consumer="batches")
    except RedisError:
        return None
    if lost:
        try:
            jobs_redrive_after_broker_loss()
        except Exception:
            with contextlib.suppress(RedisError):
                broker_data_loss_unhandled(consumer="batches")  # the next tick tries again
            raise
    return jobs_relay()


def jobs_redrive_after_broker_loss() -> int:
    """Redis lost its data: every unfinished job's next message is due again; how many.

    Queued jobs get their planner again, running ones a chord over their chunks not
    ended (or their finish), through the relay: all idempotent, so a job whose
    messages did survive (a marker lost alone) only gets harmless duplicates.
    """
    broker_queues_declare()
    redrive = ImportJob.objects.filter(
        finished_at__isnull=True,
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING, ImportJob.Status.CANCELLED],
    )
    count = redrive.update(dispatch_due_at=timezone.now() - DISPATCH_GRACE)
    logger.warning(
        "Redis lost its data, or is new (the relay's marker key is missing): the "
        "platform's queues are declared again and %s unfinished imports are driven "
        "again from PostgreSQL",
        count,
    )
    return count


def jobs_relay() -> dict:
    """Send every message due for longer than DISPATCH_GRACE; what was done, by job.

    A job still QUEUED IMPORT_REQUEUE_SECONDS after its planner reached the broker
    has its planner due again first: the message can be lost after the broker handed
    it out (a worker SIGKILLed between taking it off the queue and recording it as
    unacknowledged, which kombu's Redis transport does in two steps), and planning a
    job twice is a no-op. A RUNNING job with no progress for as long has its open
    chunks due again, for the same reason. One re-send per IMPORT_REQUEUE_SECONDS: the
    update claims it.
    """
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.IMPORT_REQUEUE_SECONDS)
    # The same loss can hit a chunk's message: a running job with no progress for as
    # long has its open chunks sent again (a chunk still running holds its row lock:
    # its duplicate waits for it and finds it done).
    ImportJob.objects.filter(
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING],
        finished_at__isnull=True,
        dispatch_due_at__isnull=True,
        last_progress_at__lt=stale,
    ).update(dispatch_due_at=stale, last_progress_at=now)
    before = now - DISPATCH_GRACE
    due = ImportJob.objects.filter(dispatch_due_at__lt=before, finished_at__isnull=True)
    outcomes: dict[str, list[int]] = {}
    for job_id in due.order_by("dispatch_due_at").values_list("id", flat=True)[:500]:
        outcomes.setdefault(job_dispatch(job_id=job_id), []).append(job_id)
    return outcomes


def job_dispatch(*, job_id: int) -> str:
    """Send the one message a job is waiting for; returns what it did.

    "planner" (QUEUED), "chunks" (a chord of every chunk not ended: pending ones and,
    harmlessly, running ones, whose duplicate waits for their lock and finds them
    done), "finished" (no chunk left to run: the callback was lost, the job is
    finished here), "sent" or "busy" (another relay or the job's own sender has it).
    """
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True)
            .filter(id=job_id, finished_at__isnull=True, dispatch_due_at__isnull=False)
            .first()
        )
        if job is None:
            return "busy"
        due = job.dispatch_due_at
        if job.status == ImportJob.Status.QUEUED:
            transaction.on_commit(lambda: sending.plan_send(job_id=job_id, due=due))
            return "planner"
        if job.status == ImportJob.Status.PENDING:
            sending.dispatch_done(job_id=job_id, due=due)  # not confirmed: nothing to send
            return "sent"
        phase = job.phase
        open_chunks = list(
            job.chunks.filter(status__in=[ImportChunk.Status.PENDING, ImportChunk.Status.RUNNING])
            .order_by("index")
            .values_list("id", flat=True)
        )
        if open_chunks:
            logger.warning(
                "import #%s: sending %s chunks the broker never got", job_id, len(open_chunks)
            )
            transaction.on_commit(
                lambda: sending.chord_start(
                    job_id=job_id, chunk_ids=open_chunks, phase=phase, due=due
                )
            )
            return "chunks"
    logger.warning("import #%s: every chunk ended but the job did not; finishing it", job_id)
    job_finish(job_id=job_id, phase=phase)
    sending.dispatch_done(job_id=job_id, due=due)  # a validate phase's end sent the next
    return "finished"
