"""Beat scheduler: django-celery-beat's DatabaseScheduler plus catch-up policy,
a per-due-time claim so two beats never send the same run twice, and every send
through the schedule's overlap policy (schedules.services.overlap), which also
records the run, whatever the task's class.

Set by default through CELERY_BEAT_SCHEDULER = "schedules.scheduler:PlatformScheduler".
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import redis
from celery import schedules as celery_schedules
from celery.beat import _evaluate_entry_args, _evaluate_entry_kwargs
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

from schedules.models import ScheduleOptions, TaskRun
from schedules.services.overlap import periodic_run_send, task_publisher
from schedules.services.runs import run_record_missed
from schedules.timing import next_run_after

logger = logging.getLogger(__name__)

CLAIM_PREFIX = "schedules:beat-claim"
MAX_SLOTS_COUNTED = 10_000
MAX_UNRECORDED = 10_000
# A due time this late (and not yet past the catch-up grace) is recorded as missed when
# a later one is sent for it; beat's ordinary lateness is well under it.
LATE_SECONDS = 3.0
STARTUP_DATABASE_WAIT_SECONDS = 120.0


def due_slots(
    schedule, *, last_run_at: datetime, now: datetime
) -> tuple[datetime | None, datetime | None, int]:
    """(first due time after last_run_at, latest due time <= now, how many came due)."""
    first = next_run_after(schedule, last_run_at)
    if first is None or first > now:
        return first, None, 0
    if type(schedule) is celery_schedules.schedule:
        every = schedule.run_every
        count = int((now - first) / every) + 1 if every.total_seconds() > 0 else 1
        return first, first + (count - 1) * every, count
    latest, count = first, 1
    while count < MAX_SLOTS_COUNTED:
        nxt = next_run_after(schedule, latest)
        if nxt is None or nxt > now:
            break
        latest, count = nxt, count + 1
    return first, latest, count


class PlatformScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Persist last_run_at after every send, so a restarted or second beat sees it.
        self.sync_every_tasks = 1
        self._claims = redis.Redis.from_url(settings.REDIS_URL)
        self._unrecorded: list[dict] = []  # missed runs the database could not take yet

    def setup_schedule(self):
        """django-celery-beat reads the schedules from the database here. A database
        restarting as beat starts (a few seconds) is waited for, up to
        STARTUP_DATABASE_WAIT_SECONDS, instead of ending beat: a supervisor would start
        it again, but no beat would be there to send or record the due times meanwhile."""
        deadline = time.monotonic() + STARTUP_DATABASE_WAIT_SECONDS
        while True:
            try:
                return super().setup_schedule()
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() > deadline:
                    raise
                logger.warning("beat: the database does not answer yet (%s); waiting", exc)
                close_old_connections()
                time.sleep(1)

    # --- decisions ----------------------------------------------------------------
    def _claim(self, entry, slot: datetime) -> bool:
        """SET NX on (periodic task, due time): only one beat sends a given run."""
        schedule = entry.schedule
        pk = entry.model.pk
        if type(schedule) is celery_schedules.schedule:
            # Interval due times depend on each beat's own last run, so claim the
            # interval itself: no second run within 80% of it.
            ttl_ms = max(500, int(schedule.run_every.total_seconds() * 800))
            return bool(
                self._claims.set(f"{CLAIM_PREFIX}:{pk}", slot.isoformat(), nx=True, px=ttl_ms)
            )
        key = f"{CLAIM_PREFIX}:{pk}:{int(slot.timestamp())}"
        return bool(self._claims.set(key, "1", nx=True, ex=24 * 3600))

    def _decide(self, entry) -> bool:
        """True to send this due entry now; records MISSED runs it drops."""
        model = entry.model
        if model is None or model.pk is None:
            return True
        now = datetime.now(UTC)
        last_run_at = entry.last_run_at
        if last_run_at.tzinfo is None:
            last_run_at = last_run_at.replace(tzinfo=UTC)
        try:
            first, latest, count = due_slots(entry.schedule, last_run_at=last_run_at, now=now)
        except Exception:
            logger.exception("could not compute due times of %s; sending it", entry.name)
            return True
        if latest is None:
            # Celery says due but no due time passed (for example a schedule edited to
            # an earlier time): claim "now" rounded to the second.
            latest = now.replace(microsecond=0)
        grace = timedelta(seconds=settings.SCHEDULES_CATCH_UP_GRACE_SECONDS)
        if not self._claim(entry, latest):
            logger.info("%s: due time %s already sent by another beat", entry.name, latest)
            return False
        if first is None or now - first <= grace:
            self._late_due_times_record(entry, first=first, count=count, now=now)
            return True
        policy = (
            ScheduleOptions.objects.filter(periodic_task_id=model.pk)
            .values_list("catch_up", flat=True)
            .first()
        ) or ScheduleOptions.CatchUp.RUN_ONCE
        if policy == ScheduleOptions.CatchUp.RUN_ONCE:
            logger.info(
                "%s: %d due time(s) passed while beat was down; running once", entry.name, count
            )
            return True
        # An interval has no wall-clock due times: after downtime it restarts from
        # now. A crontab's latest due time may be just now, and then it is on time.
        on_time = type(entry.schedule) is not celery_schedules.schedule and now - latest <= grace
        dropped = count - 1 if on_time else count
        if dropped:
            run_record_missed(
                task_name=entry.task,
                periodic_task_id=model.pk,
                due_at=first,
                missed=dropped,
                reason="beat was not running; catch-up policy is skip",
            )
        return on_time

    def _late_due_times_record(self, entry, *, first, count: int, now: datetime) -> None:
        """Due times that passed while beat could not send (blocked on Redis or the
        database) and that this one send stands for are recorded `missed`, so that every
        due time shows in the run history. A beat a little late (less than
        LATE_SECONDS) stands for them silently, as the catch-up grace intends."""
        if first is None or count < 2 or (now - first).total_seconds() < LATE_SECONDS:
            return
        # The history, not only last_run_at, says what was sent: a beat killed right
        # after a send never saved its last_run_at, and that due time did run.
        sent_at = (
            TaskRun.objects.filter(periodic_task_id=entry.model.pk, queued_at__gte=first)
            .exclude(status=TaskRun.Status.MISSED)
            .order_by("-queued_at")
            .values_list("queued_at", flat=True)
            .first()
        )
        if sent_at is not None:
            first, _, count = due_slots(entry.schedule, last_run_at=sent_at, now=now)
            if first is None or count < 2 or (now - first).total_seconds() < LATE_SECONDS:
                return
        run_record_missed(
            task_name=entry.task,
            periodic_task_id=entry.model.pk,
            due_at=first,
            missed=count - 1,
            reason="beat could not send them in time (Redis or the database did not "
            "answer); one run is sent now for them",
            at=first,
        )

    def _late_due_times_record_unclaimed(self, entry) -> None:
        """Deciding failed (Redis did not answer the claim, say), so the send goes out
        unclaimed: the due times it stands for after beat hung are recorded all the same
        (another beat in the same state may record them too)."""
        if entry.model is None or entry.model.pk is None:
            return
        try:
            now = datetime.now(UTC)
            last_run_at = entry.last_run_at
            if last_run_at.tzinfo is None:
                last_run_at = last_run_at.replace(tzinfo=UTC)
            first, _, count = due_slots(entry.schedule, last_run_at=last_run_at, now=now)
            self._late_due_times_record(entry, first=first, count=count, now=now)
        except Exception:
            logger.exception("schedules: could not record the late due times of %s", entry.name)

    # --- sending -------------------------------------------------------------------
    def apply_entry(self, entry, producer=None):
        try:
            send = self._decide(entry)
        except Exception:
            logger.exception("schedules: deciding on %s failed; sending it", entry.name)
            send = True
            self._late_due_times_record_unclaimed(entry)
        if self._unrecorded:
            self._unrecorded_write()
        if not send:
            self.sync()
            return
        logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self._send(entry, producer)
        except Exception as exc:
            logger.error("Message Error: %s", exc, exc_info=True)
            self._record_not_sent(entry, exc)
        finally:
            self._tasks_since_sync += 1
            if self.should_sync():
                self._do_sync()

    def _record_not_sent(self, entry, exc: Exception) -> None:
        """A due run that could not be sent (Redis unreachable or lost, the database
        restarting) is recorded `missed` with the reason, so that every due time shows in
        the run history; the next due time is sent as usual. While the database is down
        too, the records wait in memory and are written when it answers again."""
        if entry.model is None or entry.model.pk is None:
            return
        if len(self._unrecorded) < MAX_UNRECORDED:
            # Dated at its due time: the send may have hung on Redis for seconds first,
            # and stands for every due time that passed meanwhile.
            now = datetime.now(UTC)
            first, count = now, 1
            with contextlib.suppress(Exception):
                last_run_at = entry.last_run_at
                if last_run_at.tzinfo is None:
                    last_run_at = last_run_at.replace(tzinfo=UTC)
                due, _, passed = due_slots(entry.schedule, last_run_at=last_run_at, now=now)
                if due is not None and passed:
                    first, count = due, passed
            self._unrecorded.append({
                "task_name": entry.task,
                "periodic_task_id": entry.model.pk,
                "due_at": first,
                "at": first,
                "missed": count,
                "reason": f"not sent: {type(exc).__name__}: {exc}"[:500],
            })  # fmt: skip
        self._unrecorded_write()

    def _unrecorded_write(self) -> None:
        try:
            while self._unrecorded:
                run_record_missed(**self._unrecorded[0])
                self._unrecorded.pop(0)
        except Exception:
            close_old_connections()  # a connection the restart broke is opened again
            logger.warning(
                "schedules: %d unsent run(s) not recorded yet (the database does not "
                "answer); trying again at the next send",
                len(self._unrecorded),
                exc_info=True,
            )

    def _send(self, entry, producer) -> None:
        """Through the schedule's overlap policy, whatever the task's class; published
        the way Celery's Scheduler.apply_async publishes (task's apply_async, beat's
        producer, the celery_beat_task header)."""
        if entry.model is None:
            self.apply_async(entry, producer=producer, advance=False)
            return
        options = dict(entry.options)
        options["headers"] = {**(options.get("headers") or {}), "celery_beat_task": True}

        publish = partial(task_publisher(self.app.tasks.get(entry.task), entry.task),
                          producer=producer)  # fmt: skip
        periodic_run_send(
            task_name=entry.task,
            args=_evaluate_entry_args(entry.args),
            kwargs=_evaluate_entry_kwargs(entry.kwargs),
            options=options,
            trigger=TaskRun.Trigger.BEAT,
            periodic_task_id=entry.model.pk,
            publish=publish,
        )
