"""Every write to a schedule goes through here, with its audit record (ScheduleChange).

One path per write: the admin, `sync_default_schedules`, a report definition's
schedule sync and the actions (pause, resume, run now, release) all call these, so a
change is audited whichever entry point made it. `user` is the person (None for code)
and `source` names the entry point.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model
from django.forms.models import model_to_dict
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from schedules.models import ScheduleChange, ScheduleOptions
from schedules.signals import periodic_task_failure_pause_cleared

SOURCE_ADMIN = "admin"

ScheduleModel = TypeVar("ScheduleModel", bound=Model)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def schedule_snapshot(obj: Model) -> dict[str, Any]:
    """The editable fields of a schedule object as JSON, for the audit trail; a periodic
    task's also carry its ScheduleOptions (catch-up policy)."""
    data = model_to_dict(obj)
    data.pop("id", None)
    snapshot = {key: _jsonable(value) for key, value in data.items()}
    if isinstance(obj, PeriodicTask):
        options = ScheduleOptions.objects.filter(periodic_task_id=obj.pk).first()
        if options is not None:
            snapshot.update(
                catch_up=options.catch_up,
                overlap=options.overlap,
                pause_after_failures=options.pause_after_failures,
            )
    return snapshot


def failure_pause_end(*, periodic_task: PeriodicTask) -> bool:
    """The schedule runs again (resumed, re-enabled or deleted): a pause on failure
    ends, earlier failures stop counting, and (after commit) ops resolve the alert."""
    ended = ScheduleOptions.objects.filter(
        periodic_task_id=periodic_task.pk, paused_for_failures_at__isnull=False
    ).update(paused_for_failures_at=None, failures_counted_since=timezone.now())
    if ended:
        transaction.on_commit(
            partial(
                periodic_task_failure_pause_cleared.send,
                sender=PeriodicTask,
                periodic_task_id=periodic_task.pk,
                periodic_task_name=periodic_task.name,
            )
        )
    return bool(ended)


def schedule_change_record(
    *,
    action: str,
    obj: Model,
    user=None,
    source: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> ScheduleChange:
    return ScheduleChange.objects.create(
        user=user if getattr(user, "pk", None) else None,
        action=action,
        source=source[:200],
        object_type=obj._meta.model_name or "",
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        periodic_task=obj if isinstance(obj, PeriodicTask) and obj.pk else None,
        before=before,
        after=after,
    )


def _options_apply(*, periodic_task: PeriodicTask, options: dict[str, Any]) -> None:
    """Create the task's ScheduleOptions with `options`, or set those that differ."""
    row, created = ScheduleOptions.objects.get_or_create(
        periodic_task=periodic_task, defaults=options
    )
    changed = [name for name, value in options.items() if getattr(row, name) != value]
    if not created and changed:
        for name in changed:
            setattr(row, name, options[name])
        row.save(update_fields=changed)


@transaction.atomic
def periodic_task_write(
    *,
    periodic_task: PeriodicTask | None,
    fields: dict[str, Any],
    options: dict[str, Any] | None = None,
    user=None,
    source: str,
) -> tuple[PeriodicTask, str]:
    """Create a periodic task from `fields` (periodic_task None), or set only the fields
    (and options) that differ, so an admin's other edits and last_run_at stay.

    For code that owns a schedule (defaults as code, a report definition). Returns the
    task and "created", "updated" or "unchanged"; only a real change is audited.
    """
    if periodic_task is None:
        periodic_task = PeriodicTask.objects.create(**fields)
        if options:
            _options_apply(periodic_task=periodic_task, options=options)
        schedule_change_record(
            action=ScheduleChange.Action.CREATED,
            obj=periodic_task,
            user=user,
            source=source,
            after=schedule_snapshot(periodic_task),
        )
        return periodic_task, "created"
    before = schedule_snapshot(periodic_task)
    changed = [name for name, value in fields.items() if getattr(periodic_task, name) != value]
    if changed:
        for name in changed:
            setattr(periodic_task, name, fields[name])
        # PeriodicTask.save() clears last_run_at of a disabled task: keep that rule.
        extra = ["last_run_at"] if "enabled" in changed else []
        periodic_task.save(update_fields=changed + extra)
    if options:
        _options_apply(periodic_task=periodic_task, options=options)
    if "enabled" in changed and periodic_task.enabled:
        failure_pause_end(periodic_task=periodic_task)
    after = schedule_snapshot(periodic_task)
    if after == before:
        return periodic_task, "unchanged"
    schedule_change_record(
        action=ScheduleChange.Action.CHANGED,
        obj=periodic_task,
        user=user,
        source=source,
        before=before,
        after=after,
    )
    return periodic_task, "updated"


@transaction.atomic
def schedule_object_save(
    *, obj: Model, options: dict[str, Any] | None = None, user=None, source: str
) -> Model:
    """Save a new or edited periodic task (with its `options`) or crontab, interval,
    solar or clocked schedule whose fields a form already set; audited."""
    adding = obj._state.adding
    current = None if adding else type(obj)._default_manager.filter(pk=obj.pk).first()
    before = schedule_snapshot(current) if current is not None else None
    obj.save()  # a periodic task's save moves PeriodicTasks.changed: beat reloads
    if isinstance(obj, PeriodicTask):
        if options:
            _options_apply(periodic_task=obj, options=options)
        if obj.enabled:
            failure_pause_end(periodic_task=obj)
    schedule_change_record(
        action=ScheduleChange.Action.CREATED if before is None else ScheduleChange.Action.CHANGED,
        obj=obj,
        user=user,
        source=source,
        before=before,
        after=schedule_snapshot(obj),
    )
    return obj


@transaction.atomic
def schedule_object_find_or_create(
    *, model: type[ScheduleModel], fields: dict[str, Any], user=None, source: str
) -> ScheduleModel:
    """The first crontab, interval, solar or clocked schedule with these fields, else a
    new one, audited. Not get_or_create: admins and other apps make identical rows too,
    and get_or_create fails on the duplicates."""
    found = model._default_manager.filter(**fields).order_by("pk").first()
    if found is not None:
        return found
    created = model(**fields)
    schedule_object_save(obj=created, user=user, source=source)
    return created


def _periodic_tasks_using(schedule: Model) -> list[PeriodicTask]:
    fields = [
        field.name
        for field in PeriodicTask._meta.concrete_fields
        if field.is_relation and field.related_model is type(schedule)
    ]
    if not fields:
        return []
    return list(PeriodicTask.objects.filter(**{fields[0]: schedule}))


@transaction.atomic
def schedule_objects_delete(*, objects: list[Model], user=None, source: str) -> int:
    """Delete periodic tasks or schedules, each audited with what it was; the periodic
    tasks a deleted schedule takes with it (CASCADE) are audited too."""
    for obj in objects:
        if not isinstance(obj, PeriodicTask):
            schedule_objects_delete(objects=_periodic_tasks_using(obj), user=user, source=source)
        schedule_change_record(
            action=ScheduleChange.Action.DELETED,
            obj=obj,
            user=user,
            source=source,
            before=schedule_snapshot(obj),
        )
        if isinstance(obj, PeriodicTask):
            failure_pause_end(periodic_task=obj)
        obj.delete()
    return len(objects)
