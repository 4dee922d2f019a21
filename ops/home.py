"""The admin home: "did the night go well?" in one screen.

The overall state comes from what the checks loop and the workers' liveness records
store (`platform_status(evaluate=False)`: two Redis round trips and one query), never
from asking the workers. Ops adds its own panels (open alerts, periodic runs by
outcome, from `schedules`); the apps above add theirs through `ops.panels.register(
place="home")` (batches: the day's imports; reporting: the next report sends). Each
panel is shown only to people holding one of its permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils import timezone

from common.display import span_display
from ops import panels
from ops.conditions import GREEN, PlatformStatus, platform_status
from ops.models import Alert
from ops.panels import Cell
from schedules.models import TaskRun

OPEN_ALERTS_SHOWN = 8
# Periodic run outcomes, in the order the home page shows them; "running" counts the
# queued and started runs, "failed" the retried ones as well.
RUN_OUTCOMES: list[panels.Outcome] = [
    ("succeeded", (TaskRun.Status.SUCCEEDED,), GREEN),
    ("failed", (TaskRun.Status.FAILED, TaskRun.Status.RETRIED), "red"),
    ("skipped", (TaskRun.Status.SKIPPED, TaskRun.Status.WAITING), ""),
    ("missed", (TaskRun.Status.MISSED,), "amber"),
    ("expired", (TaskRun.Status.EXPIRED,), "amber"),
    ("running", (TaskRun.Status.QUEUED, TaskRun.Status.STARTED), ""),
]


@dataclass
class OverallState:
    state: str
    reasons: list[str]
    checked_at: Any
    checks_text: str
    url: str


def status_reasons(status: PlatformStatus, *, limit: int = 6) -> list[str]:
    """What keeps the state from green, in words: what could not be read, stale checks,
    the queues not green, beat, the open alerts."""
    reasons = list(status.errors)
    if status.checks_stale:
        reasons.append(
            "the checks have not run "
            + (
                f"for {span_display(status.checked_at - status.checks_last_at)}"
                if status.checks_last_at
                else "yet"
            )
            + ": is beat running, or a worker consuming ops?"
        )
    for queue in status.queues:
        if queue.state != GREEN:
            reasons.append(f"queue {queue.name}: {'; '.join(queue.reasons)}")
    if status.beat.get("ok") is False:
        reasons.append("beat is not ticking")
    open_count = len(status.open_alerts)
    if open_count:
        reasons.append(f"{open_count} open alert{'s' if open_count != 1 else ''}")
    return reasons[:limit]


def overall_state(*, user: Any) -> OverallState | None:
    """The platform's state for people allowed the ops dashboard; None for the others."""
    if not user.has_perm("ops.view_dashboard"):
        return None
    status = platform_status(evaluate=False)
    return OverallState(
        state=status.state,
        reasons=status_reasons(status),
        checked_at=status.checked_at,
        checks_text=(
            f"alerts checked {span_display(status.checked_at - status.checks_last_at)} ago"
            if status.checks_last_at
            else "the checks have not run yet"
        ),
        url=reverse("admin:ops_dashboard_changelist"),
    )


def open_alert_rows() -> list[list[Cell]]:
    alerts = Alert.objects.filter(status=Alert.Status.OPEN).order_by("-severity", "-last_seen_at")[
        :OPEN_ALERTS_SHOWN
    ]
    now = timezone.now()
    return [
        [
            Cell(alert.severity.upper(), state=alert.severity),
            Cell(
                f"{alert.kind_label}: {alert.subject}",
                reverse("admin:ops_alert_change", args=[alert.id]),
            ),
            Cell(f"{span_display(now - alert.first_seen_at)} ago"),
        ]
        for alert in alerts
    ]


def periodic_run_rows() -> list[list[Cell]]:
    """Today's and yesterday's periodic runs by outcome, each count linking to those runs."""
    return panels.outcomes_by_day(
        TaskRun.objects.all(),
        field="queued_at",
        outcomes=RUN_OUTCOMES,
        changelist=reverse("admin:schedules_taskrun_changelist"),
    )


def home_context(*, user: Any) -> dict[str, Any]:
    return {
        "ops_state": overall_state(user=user),
        "home_panels": panels.panels_render(place=panels.HOME, user=user),
    }


def register_panels() -> None:
    """Ops' own panels on the admin home (OpsConfig.ready())."""
    panels.register(
        name="open_alerts",
        title="Open alerts",
        columns=["severity", "alert", "opened"],
        rows=open_alert_rows,
        empty="No open alerts.",
        place=panels.HOME,
        permissions=("ops.view_alert", "ops.view_dashboard"),
        url=lambda: reverse("admin:ops_alert_changelist") + "?status__exact=open",
        link_text="All open alerts",
        order=10,
    )
    panels.register(
        name="periodic_runs",
        title="Periodic runs",
        columns=["day", *(label for label, _, _ in RUN_OUTCOMES)],
        rows=periodic_run_rows,
        place=panels.HOME,
        permissions=("schedules.view_taskrun",),
        url=lambda: reverse("admin:schedules_taskrun_changelist"),
        link_text="Run history",
        order=30,
    )
