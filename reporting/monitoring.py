"""What ops watch in report sending: reporting registers with ops at start-up.

A send that failed for good (`report_send_failed`) or whose outcome is unknown
(`report_send_unknown`) is an alert until a later run of the same report and business
date is sent (a resend worked): it is resolved then, by the sending service at once
and by the ops checks (`still_firing`) as the safety net. Ops never imports reporting;
`ReportingConfig.ready()` calls `register_with_ops()`. /metrics gets report runs by
status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from common.display import span_display
from ops import conditions, metrics, panels
from ops.panels import Cell
from ops.services import alert_resolve
from reporting.models import ReportDefinition, ReportRun
from schedules.timing import periodic_task_next_runs

KIND_SEND_FAILED = "report_send_failed"
KIND_SEND_UNKNOWN = "report_send_unknown"
ALERT_KINDS = (KIND_SEND_FAILED, KIND_SEND_UNKNOWN)
_RUN_SUBJECT = re.compile(r".* \(\w+ run #(\d+)\)")


def run_alert_subject(run: ReportRun) -> str:
    """The subject of a run's alerts: "<report> <business date> (<kind> run #<id>)"."""
    return f"{run.definition.name} {run.business_date} ({run.kind} run #{run.pk})"


def _sent_later(runs: list[ReportRun]) -> set[int]:
    """Ids of `runs` for which a later run of the same report and date was sent."""
    if not runs:
        return set()
    same_report_and_day = Q(pk__in=[])
    for run in runs:
        same_report_and_day |= Q(definition_id=run.definition_id, business_date=run.business_date)
    last_sent = {
        (row["definition_id"], row["business_date"]): row["last"]
        for row in ReportRun.objects.filter(same_report_and_day, status=ReportRun.Status.SENT)
        .values("definition_id", "business_date")
        .annotate(last=Max("created_at"))
        .order_by()
    }
    return {
        run.pk
        for run in runs
        if (last := last_sent.get((run.definition_id, run.business_date))) and last > run.created_at
    }


def send_alert_still_firing(*, subjects: list[str]) -> set[str]:
    """A failed or unknown send stays an alert while its run is still failed/unknown and
    no later run of that report and business date was sent."""
    run_ids = {}
    for subject in subjects:
        match = _RUN_SUBJECT.fullmatch(subject)
        if match:
            run_ids[subject] = int(match.group(1))
    runs = list(
        ReportRun.objects.filter(
            pk__in=run_ids.values(),
            status__in=[ReportRun.Status.FAILED, ReportRun.Status.UNKNOWN],
        ).only("pk", "definition_id", "business_date", "created_at")
    )
    open_runs = {run.pk for run in runs} - _sent_later(runs)
    return {subject for subject, run_id in run_ids.items() if run_id in open_runs}


def run_sent_alerts_resolve(*, run: ReportRun) -> None:
    """`run` was sent: the failed or unknown earlier sends of its report and date are over."""
    earlier = ReportRun.objects.filter(
        definition_id=run.definition_id,
        business_date=run.business_date,
        status__in=[ReportRun.Status.FAILED, ReportRun.Status.UNKNOWN],
        created_at__lt=run.created_at,
    ).select_related("definition")
    for failed in earlier:
        for kind in ALERT_KINDS:
            alert_resolve(kind=kind, subject=run_alert_subject(failed))


def report_run_metrics() -> Iterable[Metric]:
    family = GaugeMetricFamily(
        "batch_platform_report_runs", "Report runs (sends) kept, by status.", labels=["status"]
    )
    counts = dict(
        ReportRun.objects.values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    for status in ReportRun.Status.values:
        family.add_metric([status], counts.get(status, 0))
    yield family


NEXT_SENDS_SHOWN = 5


def next_report_sends() -> list[list[Cell]]:
    """The next sends of the enabled reports, soonest first, for the admin home (one
    query: each definition with its beat entry and schedule)."""
    definitions = ReportDefinition.objects.filter(enabled=True).select_related(
        "periodic_task__crontab",
        "periodic_task__interval",
        "periodic_task__clocked",
        "periodic_task__solar",
    )
    now = timezone.now()
    upcoming = []
    # Reports sent at the same time share a crontab row: its next time is computed once
    # (Celery parses every crontab field each time).
    by_crontab: dict[int, list] = {}
    for definition in definitions:
        task = definition.periodic_task
        if task is None:
            runs = []
        elif task.crontab_id and task.enabled:
            if task.crontab_id not in by_crontab:
                by_crontab[task.crontab_id] = periodic_task_next_runs(task, count=1)
            runs = by_crontab[task.crontab_id]
        else:
            runs = periodic_task_next_runs(task, count=1)
        upcoming.append((runs[0] if runs else None, definition))
    upcoming.sort(key=lambda item: (item[0] is None, item[0] or now, item[1].name))
    return [
        [
            Cell(
                definition.name,
                reverse("admin:reporting_reportdefinition_change", args=[definition.pk]),
            ),
            Cell(f"{when:%a %d %b %H:%M} {definition.timezone}" if when else "not scheduled"),
            Cell(f"in {span_display(when - now)}" if when else "-"),
        ]
        for when, definition in upcoming[:NEXT_SENDS_SHOWN]
    ]


def register_with_ops() -> None:
    for kind in ALERT_KINDS:
        conditions.register(kind=kind, still_firing=send_alert_still_firing)
    metrics.register(name="reports", collect=report_run_metrics)
    panels.register(
        name="next_report_sends",
        title="Next report sends",
        columns=["report", "sends at", "when"],
        rows=next_report_sends,
        empty="No report is enabled.",
        place=panels.HOME,
        permissions=("reporting.view_reportdefinition",),
        url=lambda: reverse("admin:reporting_reportrun_changelist"),
        link_text="Report runs",
        order=40,
    )
