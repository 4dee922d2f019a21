"""History retention: runs older than SCHEDULES_HISTORY_DAYS and audit rows older than
SCHEDULES_AUDIT_DAYS are deleted in bounded batches; newer ones stay."""

from datetime import UTC, datetime, timedelta

from schedules.models import ScheduleChange, TaskRun
from schedules.services.retention import history_prune
from schedules.tasks import prune_history


def _runs(count: int, *, days_ago: float, prefix: str) -> None:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    TaskRun.objects.bulk_create(
        TaskRun(
            task_name="tests.schedules.hold",
            status=TaskRun.Status.SUCCEEDED,
            queued_at=at,
            celery_task_id=f"{prefix}-{n}",
        )
        for n in range(count)
    )


def _changes(count: int, *, days_ago: float) -> None:
    created = ScheduleChange.objects.bulk_create(
        ScheduleChange(action="changed", object_type="periodictask", object_id="1", object_repr="x")
        for _ in range(count)
    )
    ScheduleChange.objects.filter(pk__in=[c.pk for c in created]).update(
        changed_at=datetime.now(UTC) - timedelta(days=days_ago)
    )


def test_prune_deletes_runs_and_audit_rows_past_their_retention_in_batches(db, settings):
    settings.SCHEDULES_HISTORY_DAYS = 30
    settings.SCHEDULES_AUDIT_DAYS = 365
    _runs(7, days_ago=31, prefix="old")
    _runs(3, days_ago=29, prefix="new")
    _changes(4, days_ago=366)
    _changes(2, days_ago=300)

    counts = history_prune(batch_size=3)  # 7 old runs: batches of 3, 3 and 1

    assert counts == {"runs": 7, "changes": 4}
    assert sorted(TaskRun.objects.values_list("celery_task_id", flat=True)) == [
        "new-0",
        "new-1",
        "new-2",
    ]
    assert ScheduleChange.objects.count() == 2


def test_the_prune_task_run_twice_leaves_the_same_state(db, settings):
    settings.SCHEDULES_HISTORY_DAYS = 10
    _runs(5, days_ago=11, prefix="old")
    _runs(2, days_ago=1, prefix="new")

    history = TaskRun.objects.filter(task_name="tests.schedules.hold")

    first = prune_history.apply().get()
    remaining = sorted(history.values_list("celery_task_id", flat=True))
    second = prune_history.apply().get()

    assert first == {"runs": 5, "changes": 0}
    assert second == {"runs": 0, "changes": 0}
    assert remaining == ["new-0", "new-1"]
    assert sorted(history.values_list("celery_task_id", flat=True)) == remaining
