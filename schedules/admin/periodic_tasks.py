"""The periodic task list and change page: plain words, next runs, overlap policy and
lock, pause on failure, the strip of recent runs, and the actions pause, resume, run
now and release the lock.

The list fits a 1366 px laptop screen: name, schedule, next run, enabled, overlap
policy and a strip of the last runs. Catch-up policy, owner, durations and the
lock live on the change page and in the filters."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask

from common.display import duration_display
from schedules import selectors, timing
from schedules.admin.base import AuditedAdminMixin, LabelledDateTimeMixin
from schedules.forms import ValidatedPeriodicTaskForm
from schedules.models import ScheduleOptions, TaskRun
from schedules.selectors import RUN_STRIP_LENGTH, RunMark
from schedules.services import actions

OVERLAP_SHORT = {
    ScheduleOptions.Overlap.SKIP: "skip",
    ScheduleOptions.Overlap.QUEUE_ONE: "queue one",
    ScheduleOptions.Overlap.ALLOW: "allow (runs may overlap)",
}
# The list column: one or two words (the filter and the change page say more).
OVERLAP_COLUMN = {
    ScheduleOptions.Overlap.SKIP: "skip",
    ScheduleOptions.Overlap.QUEUE_ONE: "queue one",
    ScheduleOptions.Overlap.ALLOW: "allow",
}


class OverlapPolicyFilter(admin.SimpleListFilter):
    """A periodic task without options has the default policy, skip."""

    title = "overlap policy"
    parameter_name = "overlap"

    def lookups(self, request, model_admin):
        return list(OVERLAP_SHORT.items())

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        chosen = Q(schedule_options__overlap=value)
        if value == ScheduleOptions.Overlap.SKIP:
            chosen |= Q(schedule_options__isnull=True)
        return queryset.filter(chosen)


# A run's status -> (outcome shown on its mark, CSS class). Waiting and queued runs
# have not started; retried ones will run again.
RUN_OUTCOMES = {
    TaskRun.Status.SUCCEEDED: ("succeeded", "ok"),
    TaskRun.Status.FAILED: ("failed", "failed"),
    TaskRun.Status.SKIPPED: ("skipped", "skipped"),
    TaskRun.Status.MISSED: ("missed", "missed"),
    TaskRun.Status.EXPIRED: ("expired", "expired"),
    TaskRun.Status.STARTED: ("running", "running"),
    TaskRun.Status.QUEUED: ("queued", "queued"),
    TaskRun.Status.WAITING: ("waiting", "queued"),
    TaskRun.Status.RETRIED: ("retried", "retried"),
}


def run_strip_html(*, marks: list[RunMark], note: str = "") -> str:
    """A strip of run marks, oldest first: each links to its run and says its outcome
    and time (as a tooltip and as the link's accessible name)."""
    items = []
    for mark in marks:
        outcome, css = RUN_OUTCOMES.get(mark.status, (mark.status, "queued"))
        when = mark.queued_at
        text = (
            outcome
            if when is None
            else f"{outcome} {timezone.localtime(when):%Y-%m-%d %H:%M:%S %Z}"
        )
        url = reverse("admin:schedules_taskrun_change", args=[mark.id])
        items.append((css, url, text, text))
    strip = (
        format_html(
            '<ol class="run-strip" aria-label="last {} runs, oldest first">{}</ol>',
            len(marks),
            format_html_join(
                "",
                '<li><a class="run-mark run-{}" href="{}" title="{}" aria-label="{}"></a></li>',
                items,
            ),
        )
        if marks
        else ""
    )
    note_html = format_html('<span class="run-note">{}</span>', note) if note else ""
    return format_html('<span class="run-cell">{}{}</span>', strip, note_html)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(LabelledDateTimeMixin, AuditedAdminMixin, beat_admin.PeriodicTaskAdmin):
    form = ValidatedPeriodicTaskForm
    change_list_template = "schedules/periodictask_change_list.html"

    class Media:
        css = {"all": ("schedules/run_strip.css",)}

    list_display = (
        "name",
        "schedule_in_words",
        "next_run",
        "enabled",
        "overlap_policy",
        "last_runs",
    )
    list_filter = [
        "enabled",
        OverlapPolicyFilter,
        "schedule_options__catch_up",
        "schedule_options__platform_owned",
    ]
    list_per_page = 50
    date_hierarchy = None
    actions = ("pause_tasks", "resume_tasks", "run_now", "show_lock_holder", "release_lock")
    readonly_fields = (
        "failure_pause",
        "last_run_at",
        "crontab_translation",
        "schedule_in_words",
        "next_five_runs",
        "lock_holder",
        "last_runs",
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
        (
            "Overlap and failures",
            {
                "fields": ("overlap", "lock_holder", "pause_after_failures", "failure_pause"),
                "classes": ("extrapretty", "wide"),
            },
        ),
        ("Runs", {"fields": ("last_runs", "recent_runs"), "classes": ("extrapretty", "wide")}),
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
        return selectors.periodic_tasks_with_recent_runs(
            super()
            .get_queryset(request)
            .select_related("interval", "crontab", "solar", "clocked", "schedule_options")
        )

    def schedule_options(self, form) -> dict:
        return {name: form.cleaned_data.get(name) for name in form.OPTION_FIELDS}

    # --- columns and read-only fields ---------------------------------------------
    @admin.display(description="schedule")
    def schedule_in_words(self, obj):
        return timing.describe_periodic_task(obj) if obj.pk else "-"

    @admin.display(description="next run")
    def next_run(self, obj):
        runs = timing.periodic_task_next_runs(obj, count=1)
        if not runs:
            return "-"
        # Short within the week ("Tue 02:30 GMT"); the full date is the tooltip.
        soon = runs[0] - timezone.now() < timedelta(days=6)
        shown = f"{runs[0]:%a %H:%M %Z}" if soon else f"{runs[0]:%Y-%m-%d %H:%M %Z}"
        return format_html('<time datetime="{}" title="{}">{}</time>', runs[0].isoformat(),
                           f"{runs[0]:%A %Y-%m-%d %H:%M %Z}", shown)  # fmt: skip

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

    @admin.display(description=f"last {RUN_STRIP_LENGTH} runs")
    def last_runs(self, obj):
        if not obj.pk:
            return "-"
        marks = selectors.run_marks(obj)  # loaded with the task (get_queryset)
        return run_strip_html(marks=marks, note=self._strip_note(obj, marks))

    def _strip_note(self, obj, marks: list[RunMark]) -> str:
        """A few words where the marks alone would mislead (kept on one line)."""
        options = self._options(obj)
        if options and options.paused_for_failures_at:
            return f"paused after {options.pause_after_failures} failures"
        if obj.task in settings.SCHEDULES_HISTORY_EXCLUDE:
            # Quiet tasks (SCHEDULES_HISTORY_EXCLUDE) record failures and recoveries only.
            return "failures only" if marks else "no failure recorded"
        return "" if marks else "never run"

    def _options(self, obj) -> ScheduleOptions | None:
        try:
            return obj.schedule_options
        except ScheduleOptions.DoesNotExist:
            return None

    @admin.display(description="catch-up policy")
    def catch_up_policy(self, obj):
        options = self._options(obj)
        return options.get_catch_up_display() if options else ScheduleOptions.CatchUp.RUN_ONCE.label

    @admin.display(description="overlap")
    def overlap_policy(self, obj):
        options = self._options(obj)
        policy = options.overlap if options else ScheduleOptions.Overlap.SKIP
        return format_html(
            '<span title="{}">{}</span>', OVERLAP_SHORT[policy], OVERLAP_COLUMN[policy]
        )

    @admin.display(description="paused on failure")
    def failure_pause(self, obj):
        options = self._options(obj) if obj.pk else None
        if options is None or not options.paused_for_failures_at:
            return "no"
        return (
            f"yes, since {options.paused_for_failures_at:%Y-%m-%d %H:%M:%S %Z}, after "
            f"{options.pause_after_failures} failed runs in a row (see the audit trail); "
            "Resume clears it"
        )

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
        options = self._options(obj)
        if options and options.overlap == ScheduleOptions.Overlap.ALLOW:
            return "none: the overlap policy is allow, so runs may overlap"
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
        count = actions.periodic_tasks_pause(
            periodic_task_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"{count} task(s) paused.")

    @admin.action(description="Resume selected tasks", permissions=["change"])
    def resume_tasks(self, request, queryset):
        count = actions.periodic_tasks_resume(
            periodic_task_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"{count} task(s) resumed; beat picks them up within seconds.")

    @admin.action(description="Run selected tasks now (same lock and history)", permissions=["run"])
    def run_now(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            queued, message = actions.periodic_task_run_now(periodic_task_id=pk, user=request.user)
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
            holder = actions.periodic_task_lock_release(periodic_task_id=task.pk, user=request.user)
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
