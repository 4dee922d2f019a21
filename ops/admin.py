"""Ops in the admin: the dashboard, alerts with acknowledge, heartbeat history."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from ops import selectors
from ops.charts import line_chart_svg
from ops.conditions import platform_status
from ops.models import Alert, Dashboard, Heartbeat
from ops.panels import panels_render
from ops.services import alert_acknowledge, alerts_resolve_by_hand


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        return queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["severity_label", "kind_display", "subject", "status", "occurrences",
                    "first_seen_at", "last_seen_at", "resolved_at", "resolved_how",
                    "acknowledged_by", "acknowledged_at"]  # fmt: skip
    list_filter = ["status", "severity", "kind", AcknowledgedFilter]
    list_select_related = ["acknowledged_by", "resolved_by"]
    search_fields = ["subject", "message", "kind"]
    date_hierarchy = "first_seen_at"
    ordering = ["status", "-last_seen_at"]
    actions = ["acknowledge", "resolve_by_hand"]
    readonly_fields = [field.name for field in Alert._meta.fields]

    @admin.display(description="kind", ordering="kind")
    def kind_display(self, obj: Alert) -> str:
        return format_html("{} <code>{}</code>", obj.kind_label, obj.kind)

    @admin.display(description="resolved how")
    def resolved_how(self, obj: Alert) -> str:
        if obj.resolved_at is None:
            return "-"
        if obj.resolved_by_id is None:
            return "condition cleared"
        return f"by {obj.resolved_by}: {obj.resolution_note}"

    @admin.display(description="severity", ordering="severity")
    def severity_label(self, obj: Alert) -> str:
        # Text, not colour alone.
        return obj.severity.upper()

    def has_add_permission(self, request) -> bool:
        return False  # alerts come from the checks and the apps, not from people

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_acknowledge_permission(self, request) -> bool:
        return request.user.has_perm("ops.acknowledge_alert")

    @admin.action(description="Acknowledge selected open alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        changed = alert_acknowledge(
            alert_ids=list(queryset.values_list("id", flat=True)), user_id=request.user.id
        )
        self.message_user(
            request, f"{changed} alert(s) acknowledged by {request.user}.", messages.SUCCESS
        )

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("ops.resolve_alert")

    @admin.action(description="Resolve selected open alerts by hand, with a note",
                  permissions=["resolve"])  # fmt: skip
    def resolve_by_hand(self, request, queryset):
        form = ResolveForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            resolved = alerts_resolve_by_hand(
                alert_ids=list(queryset.values_list("id", flat=True)),
                user_id=request.user.id,
                note=form.cleaned_data["note"],
            )
            self.message_user(
                request, f"{resolved} alert(s) resolved by {request.user}.", messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Resolve alerts by hand",
            "opts": self.model._meta,
            "form": form,
            "alerts": queryset.filter(status=Alert.Status.OPEN).order_by("id"),
            "action_name": "resolve_by_hand",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "ops/resolve_alerts.html", context)


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why these alerts need no more action (kept with each alert, emailed to ops).",
        max_length=2000,
    )


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["queue", "sent_at", "started_at", "latency", "worker"]
    list_filter = ["queue"]
    date_hierarchy = "started_at"
    readonly_fields = [field.name for field in Heartbeat._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """The ops dashboard, reached as "Ops dashboard" on the admin index."""

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm("ops.view_dashboard")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        # Read what the checks loop and the workers store; nothing is asked of the workers.
        status = platform_status(evaluate=False)
        until = status.checked_at.timestamp()
        since = until - 24 * 3600
        history = selectors.queue_history(hours=24)
        summary = selectors.queue_latency_summary(hours=24)
        queues = []
        for queue in status.queues:
            data = history.get(queue.name, {"latency": [], "depth": []})
            queues.append(
                {
                    "state": queue,
                    "summary": summary.get(queue.name, {}),
                    "latency_chart": line_chart_svg(
                        data["latency"],
                        since=since,
                        until=until,
                        label="latency",
                        unit="s",
                        threshold=queue.thresholds.get("latency_amber"),
                    ),
                    "depth_chart": line_chart_svg(
                        data["depth"],
                        since=since,
                        until=until,
                        label="depth",
                        threshold=queue.thresholds.get("depth_amber"),
                        digits=0,
                    ),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Ops dashboard",
            "opts": self.model._meta,
            "status": status,
            "queues": queues,
            "open_alerts": selectors.alerts_open(),
            "recent_alerts": selectors.alerts_recent(limit=15),
            "failed_runs": selectors.failed_runs_recent(limit=10),
            "panels": panels_render(user=request.user),
            "worker_dead_after": settings.OPS_WORKER_DEAD_AFTER,
            "can_acknowledge": request.user.has_perm("ops.acknowledge_alert"),
            "can_resolve": request.user.has_perm("ops.resolve_alert"),
        }
        return TemplateResponse(request, "ops/dashboard.html", context)
