"""Admin: periodic tasks with validation, plain words, next runs, history, locks and audit."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from common.display import duration_display
from schedules import selectors, services, timing
from schedules.forms import ValidatedCrontabForm, ValidatedPeriodicTaskForm
from schedules.models import ScheduleChange, ScheduleOptions, TaskRun

for model in (PeriodicTask, CrontabSchedule, IntervalSchedule, SolarSchedule, ClockedSchedule):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class AuditedAdminMixin:
    """Writes a ScheduleChange (who, when, before, after) for every save and delete."""

    def save_model(self, request, obj, form, change):
        before = None
        if change and obj.pk:
            current = type(obj).objects.filter(pk=obj.pk).first()
            before = services.schedule_snapshot(current) if current else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            self._after_save(request, obj, form)
            services.schedule_change_record(
                user=request.user,
                action=ScheduleChange.Action.CHANGED if change else ScheduleChange.Action.CREATED,
                obj=obj,
                before=before,
                after=services.schedule_snapshot(obj),
            )

    def _after_save(self, request, obj, form) -> None:
        pass

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._record_deleted(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self._record_deleted(request, obj)
            super().delete_queryset(request, queryset)

    def _record_deleted(self, request, obj) -> None:
        services.schedule_change_record(
            user=request.user,
            action=ScheduleChange.Action.DELETED,
            obj=obj,
            before=services.schedule_snapshot(obj),
        )


class LabelledDateTimeMixin:
    """Names the date and time inputs of Django's split date/time widget.

    Django renders "Date:" and "Time:" as bare text next to the two inputs, so screen
    readers (and axe) find two unlabelled fields; an aria-label carries the field name.
    """

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and isinstance(field.widget, AdminSplitDateTime):
            date_input, time_input = field.widget.widgets
            date_input.attrs["aria-label"] = f"{field.label}: date"
            time_input.attrs["aria-label"] = f"{field.label}: time"
        return field


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(LabelledDateTimeMixin, AuditedAdminMixin, beat_admin.PeriodicTaskAdmin):
    form = ValidatedPeriodicTaskForm
    list_display = (
        "name",
        "enabled",
        "schedule_in_words",
        "next_run",
        "last_status",
        "last_duration",
        "catch_up_policy",
        "owner",
    )
    list_filter = ["enabled", "schedule_options__catch_up", "schedule_options__platform_owned"]
    list_per_page = 50
    date_hierarchy = None
    actions = ("pause_tasks", "resume_tasks", "run_now", "show_lock_holder", "release_lock")
    readonly_fields = (
        "last_run_at",
        "crontab_translation",
        "schedule_in_words",
        "next_five_runs",
        "lock_holder",
        "recent_runs",
        "owner",
    )
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "regtask", "task", "enabled", "description", "owner"),
                "classes": ("extrapretty", "wide"),
            },
        ),
        (
            "Schedule",
            {
                "fields": (
                    "interval",
                    "crontab",
                    "solar",
                    "clocked",
                    "start_time",
                    "last_run_at",
                    "one_off",
                    "catch_up",
                    "schedule_in_words",
                    "next_five_runs",
                ),
                "classes": ("extrapretty", "wide"),
            },
        ),
        ("Arguments", {"fields": ("args", "kwargs"), "classes": ("extrapretty", "wide")}),
        ("Runs", {"fields": ("lock_holder", "recent_runs"), "classes": ("extrapretty", "wide")}),
        (
            "Execution options",
            {
                "fields": (
                    "expires",
                    "expire_seconds",
                    "queue",
                    "exchange",
                    "routing_key",
                    "priority",
                    "headers",
                ),
                "classes": ("extrapretty", "wide", "collapse"),
            },
        ),
    )

    def get_queryset(self, request):
        return selectors.periodic_tasks_with_last_run(super().get_queryset(request))

    def _after_save(self, request, obj, form) -> None:
        services.periodic_task_options_set(
            periodic_task=obj, catch_up=form.cleaned_data["catch_up"]
        )

    # --- columns and read-only fields ---------------------------------------------
    @admin.display(description="schedule")
    def schedule_in_words(self, obj):
        return timing.describe_periodic_task(obj) if obj.pk else "-"

    @admin.display(description="next run")
    def next_run(self, obj):
        runs = timing.periodic_task_next_runs(obj, count=1)
        return f"{runs[0]:%Y-%m-%d %H:%M %Z}" if runs else "-"

    @admin.display(description="next five runs")
    def next_five_runs(self, obj):
        if not obj.pk:
            return "-"
        runs = timing.periodic_task_next_runs(obj, count=5)
        if not runs:
            return "none (paused, finished or no schedule)"
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "", "<li>{}</li>", ((f"{run:%a %Y-%m-%d %H:%M %Z (UTC%z)}",) for run in runs)
            ),
        )

    @admin.display(description="last status", ordering="last_run_status")
    def last_status(self, obj):
        return obj.last_run_status or "never run"

    @admin.display(description="last duration", ordering="last_run_duration")
    def last_duration(self, obj):
        return duration_display(obj.last_run_duration)

    def _options(self, obj) -> ScheduleOptions | None:
        try:
            return obj.schedule_options
        except ScheduleOptions.DoesNotExist:
            return None

    @admin.display(description="catch-up policy")
    def catch_up_policy(self, obj):
        options = self._options(obj)
        return options.get_catch_up_display() if options else ScheduleOptions.CatchUp.RUN_ONCE.label

    @admin.display(description="owner")
    def owner(self, obj):
        options = self._options(obj)
        if options and options.platform_owned:
            return "platform (declared in code; sync_default_schedules updates it)"
        return "admin"

    @admin.display(description="overlap lock")
    def lock_holder(self, obj):
        if not obj.pk:
            return "-"
        return selectors.lock_holder_text(selectors.periodic_task_lock_holder(obj))

    @admin.display(description="recent runs")
    def recent_runs(self, obj):
        if not obj.pk:
            return "-"
        runs = TaskRun.objects.filter(periodic_task=obj).order_by("-queued_at", "-id")[:10]
        url = (
            reverse("admin:schedules_taskrun_changelist")
            + "?"
            + urlencode({"periodic_task__id__exact": obj.pk})
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{run.queued_at:%Y-%m-%d %H:%M:%S}" if run.queued_at else "-",
                    run.status,
                    run.trigger,
                    duration_display(run.duration),
                    run.error[:300],
                )
                for run in runs
            ),
        )
        return format_html(
            "<table><tr><th>queued</th><th>status</th><th>trigger</th><th>duration</th>"
            '<th>error</th></tr>{}</table><a href="{}">All runs of this task</a>',
            rows,
            url,
        )

    # --- actions ------------------------------------------------------------------
    @admin.action(description="Pause selected tasks", permissions=["change"])
    def pause_tasks(self, request, queryset):
        count = services.periodic_tasks_pause(
            periodic_task_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"{count} task(s) paused.")

    @admin.action(description="Resume selected tasks", permissions=["change"])
    def resume_tasks(self, request, queryset):
        count = services.periodic_tasks_resume(
            periodic_task_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"{count} task(s) resumed; beat picks them up within seconds.")

    @admin.action(description="Run selected tasks now (same lock and history)", permissions=["run"])
    def run_now(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            queued, message = services.periodic_task_run_now(periodic_task_id=pk, user=request.user)
            self.message_user(
                request, message, level=messages.SUCCESS if queued else messages.WARNING
            )

    @admin.action(description="Show who holds the overlap lock", permissions=["lock"])
    def show_lock_holder(self, request, queryset):
        for task in queryset:
            holder = selectors.periodic_task_lock_holder(task)
            self.message_user(request, f"{task.name}: {selectors.lock_holder_text(holder)}")

    @admin.action(description="Release the overlap lock", permissions=["lock"])
    def release_lock(self, request, queryset):
        for task in queryset:
            holder = services.periodic_task_lock_release(
                periodic_task_id=task.pk, user=request.user
            )
            if holder is None:
                self.message_user(request, f"{task.name}: not locked; nothing to release.")
            else:
                self.message_user(
                    request,
                    f"{task.name}: released the lock {selectors.lock_holder_text(holder)}.",
                    level=messages.WARNING,
                )

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("schedules.run_periodic_task")

    def has_lock_permission(self, request) -> bool:
        return request.user.has_perm("schedules.release_periodic_lock")


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(AuditedAdminMixin, beat_admin.CrontabScheduleAdmin):
    form = ValidatedCrontabForm
    list_display = ("__str__", "in_words")
    fields = (
        "in_words",
        "minute",
        "hour",
        "day_of_month",
        "month_of_year",
        "day_of_week",
        "timezone",
    )
    readonly_fields = ("in_words",)

    @admin.display(description="in plain words")
    def in_words(self, obj):
        if not obj.pk:
            return "-"
        expression = " ".join(
            [obj.minute, obj.hour, obj.day_of_month, obj.month_of_year, obj.day_of_week]
        )
        return timing.describe_crontab(expression, str(obj.timezone))


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(AuditedAdminMixin, beat_admin.IntervalScheduleAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(AuditedAdminMixin, beat_admin.SolarScheduleAdmin):
    pass


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(
    LabelledDateTimeMixin, AuditedAdminMixin, beat_admin.ClockedScheduleAdmin
):
    pass


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
