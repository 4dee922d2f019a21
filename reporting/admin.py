"""Admin for report definitions and runs. Thin: every action calls a service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from reporting import registry
from reporting.business_days import (
    last_completed_business_day,
    next_send_times,
    schedule_in_words,
)
from reporting.forms import PreviewDateForm, form_for_kind, parameter_field_names
from reporting.models import ReportDefinition, ReportRun
from reporting.rendering import report_render
from reporting.services import (
    report_definition_save,
    report_run_resend,
    report_test_send,
)

SEND_PERMISSION = "reporting.send_report"


def _can_send(request) -> bool:
    return request.user.has_perm(SEND_PERMISSION)


@admin.register(ReportDefinition)
class ReportDefinitionAdmin(admin.ModelAdmin):
    list_display = [
        "name", "kind_label", "schedule", "enabled", "next_sends", "preview_link",
    ]  # fmt: skip
    list_filter = ["enabled", "kind", "timezone"]
    search_fields = ["name", "to_recipients"]
    readonly_fields = ["schedule", "next_five_sends", "periodic_task"]
    actions = ["send_test_to_me"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled"]}),
        ("Recipients", {"fields": ["to_recipients", "cc_recipients"]}),
        ("Content", {"fields": ["skip_when_empty", "attachment_formats"]}),
        (
            "Schedule",
            {
                "fields": [
                    ("send_hour", "send_minute"),
                    "business_weekdays",
                    "timezone",
                    ("holiday_country", "holiday_subdivision"),
                    "schedule",
                    "next_five_sends",
                    "periodic_task",
                ]
            },
        ),
    ]

    @admin.display(description="schedule")
    def schedule(self, obj: ReportDefinition) -> str:
        return schedule_in_words(definition=obj) if obj.pk else "—"

    @admin.display(description="kind", ordering="kind")
    def kind_label(self, obj: ReportDefinition) -> str:
        kind = registry.find(obj.kind)
        return kind.label if kind else f"{obj.kind} (not installed)"

    @admin.display(description="next five sends")
    def next_sends(self, obj: ReportDefinition) -> str:
        if not obj.enabled:
            return "paused"
        upcoming = next_send_times(definition=obj, after=timezone.now(), count=5)
        if not upcoming:
            return "—"
        return format_html(
            "<ul style='margin:0; padding:0'>{}</ul>",
            format_html_join(
                "",
                "<li style='list-style:none; white-space:nowrap'>{}</li>",
                ((f"{instant:%a %d %b %H:%M %Z}",) for instant, _ in upcoming),
            ),
        )

    @admin.display(description="next five sends (holidays removed)")
    def next_five_sends(self, obj: ReportDefinition) -> str:
        if not obj.pk:
            return "—"
        upcoming = next_send_times(definition=obj, after=timezone.now(), count=5)
        note = "" if obj.enabled else " (paused: enable the definition to send)"
        return format_html(
            "<ul style='margin:0'>{}</ul>{}",
            format_html_join("", "<li>{}</li>", ((_when(item),) for item in upcoming)),
            note,
        )

    @admin.display(description="preview")
    def preview_link(self, obj: ReportDefinition) -> str:
        url = reverse("admin:reporting_reportdefinition_preview", args=[obj.pk])
        return format_html('<a href="{}">preview</a>', url)

    def _kind_key(self, request, obj: ReportDefinition | None) -> str:
        # The kind being posted decides which parameters are validated; then the saved
        # one; then `?kind=` on the add page; then the model's default.
        return (
            request.POST.get("kind")
            or (obj.kind if obj is not None else "")
            or request.GET.get("kind")
            or str(ReportDefinition._meta.get_field("kind").default)
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = form_for_kind(self._kind_key(request, obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        key = self._kind_key(request, obj)
        names = parameter_field_names(key)
        if not names:
            return self.fieldsets
        kind = registry.get(key)
        parameters = (f"Parameters of “{kind.label}”", {"fields": names})
        return [*self.fieldsets[:3], parameters, *self.fieldsets[3:]]

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_send_reports"] = _can_send(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        report_definition_save(definition=obj)

    @admin.action(description="Send a test of the last business day to me", permissions=["send"])
    def send_test_to_me(self, request, queryset) -> None:
        for definition in queryset:
            day = last_completed_business_day(definition=definition, at=timezone.now())
            try:
                run = report_test_send(definition=definition, user=request.user, business_date=day)
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            self.message_user(
                request,
                f"Test of {definition} for {day} queued to {run.to_recipients} (run #{run.pk}).",
            )

    def has_send_permission(self, request) -> bool:
        return _can_send(request)

    def get_urls(self):
        return [
            path(
                "<int:definition_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="reporting_reportdefinition_preview",
            ),
            path(
                "<int:definition_id>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="reporting_reportdefinition_send_test",
            ),
            *super().get_urls(),
        ]

    def send_test_view(self, request, definition_id: int):
        """The change page's "Send a test to me" button (POST only)."""
        if request.method != "POST" or not _can_send(request):
            raise PermissionDenied
        definition = get_object_or_404(ReportDefinition, pk=definition_id)
        self.send_test_to_me(request, ReportDefinition.objects.filter(pk=definition.pk))
        return HttpResponseRedirect(
            reverse("admin:reporting_reportdefinition_change", args=[definition.pk])
        )

    def preview_view(self, request, definition_id: int):
        if not _can_send(request):
            raise PermissionDenied
        definition = get_object_or_404(ReportDefinition, pk=definition_id)
        form = PreviewDateForm(request.GET or None)
        day = form.cleaned_data["date"] if form.is_valid() and form.cleaned_data["date"] else None
        day = day or last_completed_business_day(definition=definition, at=timezone.now())
        try:
            rendered = report_render(definition=definition, business_date=day)
        except (registry.ReportKindNotFound, ValidationError) as exc:
            # The definition's kind is gone or its stored parameters no longer validate:
            # tell the person who can fix the definition, rather than fail the page.
            detail = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, f"This report cannot be built: {detail}")
            return HttpResponseRedirect(
                reverse("admin:reporting_reportdefinition_change", args=[definition.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {rendered.subject}",
            "opts": self.model._meta,
            "definition": definition,
            "form": PreviewDateForm(initial={"date": day}),
            "business_date": day,
            "rendered": rendered,
        }
        return TemplateResponse(request, "reporting/admin/preview.html", context)


def _when(item) -> str:
    instant, business_date = item
    return f"{instant:%a %Y-%m-%d %H:%M %Z} (for {business_date:%a %Y-%m-%d})"


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    list_display = [
        "definition", "business_date", "kind", "status", "to_recipients", "sent_at",
        "attempts", "short_error", "requested_by",
    ]  # fmt: skip
    list_filter = ["status", "kind", "business_date", "definition"]
    list_select_related = ["definition", "requested_by"]
    search_fields = ["definition__name", "to_recipients", "subject"]
    date_hierarchy = "business_date"
    actions = ["resend"]
    readonly_fields = [field.name for field in ReportRun._meta.fields]

    @admin.display(description="error")
    def short_error(self, obj: ReportRun) -> str:
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_send_permission(self, request) -> bool:
        return _can_send(request)

    @admin.action(description="Resend to the definition's current recipients", permissions=["send"])
    def resend(self, request, queryset) -> None:
        for run in queryset.select_related("definition"):
            new = report_run_resend(run=run, user=request.user)
            self.message_user(
                request,
                f"Resend of {run.definition} for {run.business_date} queued (run #{new.pk}).",
            )
