"""Plain team tasks every second under the *skip* and the *queue one* overlap policies,
checked against the team's own records of each run's start and end
(`tests.team.models.TimedRun`) and the due times beat recorded."""

from __future__ import annotations

import datetime as dt
import json
import time

# key: (overlap policy, catch-up policy, seconds a run takes)
SCHEDULES = {"skip": ("skip", "skip", 2.5), "queue_one": ("queue_one", "run_once", 1.5)}
# Beat sends every second; a stretch longer than this with no due time recorded (run,
# skipped, waiting, expired, queued or missed) is a due time unaccounted for.
DUE_GAP_SECONDS = 5.0


def schedules_create() -> dict[str, int]:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from schedules.models import ScheduleOptions

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    created = {}
    for key, (overlap, catch_up, seconds) in SCHEDULES.items():
        task = PeriodicTask.objects.create(
            name=f"chaos: team step ({key})", task="team.timed_step", interval=every_second,
            kwargs=json.dumps({"key": key, "seconds": seconds}), queue="default",
        )  # fmt: skip
        ScheduleOptions.objects.update_or_create(
            periodic_task=task, defaults={"overlap": overlap, "catch_up": catch_up}
        )
        created[key] = task.pk
    return created


def waiting_now(schedule_ids: dict[str, int]) -> int:
    """How many runs of the *queue one* schedule wait right now (sampled every second)."""
    from schedules.models import TaskRun

    return TaskRun.objects.filter(
        periodic_task_id=schedule_ids["queue_one"], status=TaskRun.Status.WAITING
    ).count()


def _at(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)


def check_team_tasks(schedule_ids: dict[str, int], faults: list[dict], *, max_waiting: int,
                     since: float, until: float) -> dict[str, list[str]]:  # fmt: skip
    from schedules.models import TaskRun
    from tests.team.models import TimedRun

    # Process id -> when a fault killed it, or froze it (SIGSTOP) past any time limit.
    stopped: dict[int, list[float]] = {}
    for fault in faults:
        for pid in fault.get("killed_pids", []) + fault.get("frozen_pids", []):
            stopped.setdefault(pid, []).append(fault["at"])
    overlap: list[str] = []
    ended: list[str] = []
    due: list[str] = []
    for key, pk in schedule_ids.items():
        runs = list(TimedRun.objects.filter(key=key).order_by("started_at"))
        latest_end = None
        latest = None
        for run in runs:
            end = run.ended_at
            if end is None and run.started_at.timestamp() > time.time() - 20:
                continue  # may still be running (a run takes at most 15 s)
            if end is None:
                after = [t for t in stopped.get(run.pid, []) if t >= run.started_at.timestamp()]
                if after:
                    # Killed mid-run: it ended then. Or frozen (SIGSTOP) longer than its
                    # hard time limit: its pool kills it on SIGCONT before it runs on.
                    end = _at(min(after))
                else:
                    ended.append(f"{key} run {run.celery_task_id} from {run.started_at:%H:%M:%S.%f}"
                                 f" (pid {run.pid}) never ended, and no fault killed it")  # fmt: skip
                    continue
            if latest_end is not None and run.started_at < latest_end:
                overlap.append(f"{key}: run {run.celery_task_id} started {run.started_at:%H:%M:%S.%f}"
                               f" while {latest.celery_task_id} ran until {latest_end:%H:%M:%S.%f}")  # fmt: skip
            if latest_end is None or end > latest_end:
                latest_end, latest = end, run
        # Every due time accounted for: ran (the team's record), or recorded by beat.
        marks = sorted(
            [run.started_at.timestamp() for run in runs]
            + [
                moment.timestamp()
                for moment in TaskRun.objects.filter(periodic_task_id=pk)
                .exclude(queued_at__isnull=True)
                .values_list("queued_at", flat=True)
            ]
        )
        missed = [
            moment.timestamp()
            for moment in TaskRun.objects.filter(
                periodic_task_id=pk, status=TaskRun.Status.MISSED
            ).values_list("queued_at", flat=True)
            if moment
        ]
        # From the first due time beat recorded (no beat may be up yet at `since`).
        marks = [m for m in marks if since <= m <= until]
        start = marks[0] if marks else since
        for before, after in zip([start, *marks], [*marks, until], strict=True):
            if after - before > DUE_GAP_SECONDS and not any(before <= m <= after for m in missed):
                due.append(f"{key}: no due time recorded from {_at(before):%H:%M:%S} to "
                           f"{_at(after):%H:%M:%S} ({after - before:.0f} s)")  # fmt: skip
    waiting = [f"queue_one: {max_waiting} runs waiting at once"] if max_waiting > 1 else []
    return {
        "no two runs of a skip or queue-one task overlapped (the team's records)": overlap,
        "every team run ended, or was killed (or frozen past its time limit) by a fault": ended,
        "queue one: never two waiting": waiting,
        "every due time of every team schedule accounted for (ran, skipped, missed)": due,
    }


def runs_summary(schedule_ids: dict[str, int]) -> dict[str, dict[str, int]]:
    from django.db.models import Count

    from schedules.models import TaskRun
    from tests.team.models import TimedRun

    summary = {}
    for key, pk in schedule_ids.items():
        by_status = dict(
            TaskRun.objects.filter(periodic_task_id=pk)
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        summary[key] = {"ran (team records)": TimedRun.objects.filter(key=key).count(), **by_status}
    return summary
