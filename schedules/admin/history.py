"""Run history (TaskRun) and the audit trail (ScheduleChange): read-only lists."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property
from django_celery_beat.models import PeriodicTask

from common.display import duration_display
from schedules.models import ScheduleChange, TaskRun


class TaskNameFilter(admin.SimpleListFilter):
    """Lists task names from the small PeriodicTask table, not a DISTINCT over history."""

    title = "task"
    parameter_name = "task_name"

    def lookups(self, request, model_admin):
        names = sorted(set(PeriodicTask.objects.values_list("task", flat=True)))
        return [(name, name) for name in names]

    def has_output(self) -> bool:
        # Also filter by a task name no schedule uses any more (a link from elsewhere).
        return True

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(task_name=self.value())
        return queryset


class EstimatedCountPaginator(Paginator):
    """Unfiltered history: PostgreSQL's row estimate instead of COUNT(*) over every run."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [TaskRun._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return int(row[0])
        return super().count


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    paginator = EstimatedCountPaginator
    list_display = (
        "queued_at",
        "task_name",
        "schedule_name",
        "status",
        "trigger",
        "queued_by",
        "started_at",
        "run_duration",
        "worker",
        "celery_task_id",
        "short_error",
    )
    list_filter = ("status", TaskNameFilter, "trigger", ("queued_at", admin.DateFieldListFilter))
    list_select_related = ("periodic_task",)
    show_full_result_count = False
    list_per_page = 100
    date_hierarchy = None
    search_fields = ("=celery_task_id",)
    ordering = ("-queued_at", "-id")
    readonly_fields = [field.name for field in TaskRun._meta.fields]

    @admin.display(description="periodic task")
    def schedule_name(self, obj):
        # The name only: PeriodicTask.__str__ would load its schedule row by row.
        return obj.periodic_task.name if obj.periodic_task_id else "-"

    @admin.display(description="duration", ordering="duration")
    def run_duration(self, obj):
        return duration_display(obj.duration)

    @admin.display(description="error")
    def short_error(self, obj):
        # Long enough for a skipped run's lock holder (id, since, worker, queued by).
        return obj.error[:300]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ScheduleChange)
class ScheduleChangeAdmin(admin.ModelAdmin):
    list_display = ("changed_at", "user", "action", "object_type", "object_repr", "changed_fields")
    list_filter = ("action", "object_type", ("changed_at", admin.DateFieldListFilter))
    list_select_related = ("user",)
    show_full_result_count = False
    readonly_fields = [field.name for field in ScheduleChange._meta.fields]

    @admin.display(description="changed")
    def changed_fields(self, obj):
        before, after = obj.before or {}, obj.after or {}
        keys = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
        return ", ".join(f"{key}: {before.get(key)!r} → {after.get(key)!r}" for key in keys)[:300]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
