"""The platform's own end-of-day report, registered through the same door as a team's.

The business day (local [00:00, next 00:00) of the definition's timezone) of the
platform itself: imports per dataset, periodic runs per task by outcome, ops alerts
opened, resolved and still open, and each queue's latency and depth. Eight queries
whatever the number of jobs, runs, alerts or samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reporting import registry, selectors
from reporting.models import PLATFORM_KIND

IMPORT_MEASURES = [
    "jobs",
    "rows_new",
    "rows_updated",
    "rows_unchanged",
    "rows_rejected",
    "failures",
]
PERIODIC_MEASURES = ["runs", *selectors.PERIODIC_OUTCOMES]
ALERT_MEASURES = ["opened", "resolved", "still_open"]
QUEUE_MEASURES = [
    "heartbeats", "latency_avg", "latency_p95", "latency_max",
    "samples", "depth_avg", "depth_max", "consumers_min",
]  # fmt: skip


def _total(rows: Sequence[Mapping[str, Any]], measure: str) -> int:
    return sum(row.get(measure) or 0 for row in rows)


class PlatformDayReport(registry.ReportKind):
    key = PLATFORM_KIND
    label = "Platform end of day: imports, periodic runs, alerts, queues"
    template_prefix = "reporting/reports/platform_day"
    empty_means = "no import, no failed, skipped, missed or expired periodic run, and no alert"
    detail_title = "Figures"
    detail_header = ["section", "subject", "measure", "value"]

    def build(self, day: registry.ReportDay) -> registry.ReportContent:
        start, end = day.window
        datasets = selectors.imports_by_dataset(start=start, end=end)
        tasks = selectors.periodic_runs_by_task(start=start, end=end)
        alerts = selectors.alerts_of_day(start=start, end=end)
        queues = selectors.queues_of_day(start=start, end=end)
        imports = {measure: _total(datasets, measure) for measure in IMPORT_MEASURES}
        periodic = {measure: _total(tasks, measure) for measure in PERIODIC_MEASURES}
        problems = sum(periodic[status] for status in selectors.PERIODIC_PROBLEM_STATUSES)
        summary = {
            "import jobs": imports["jobs"],
            "rows new / updated / rejected": (
                f"{imports['rows_new']} / {imports['rows_updated']} / {imports['rows_rejected']}"
            ),
            "failed imports": imports["failures"],
            "periodic runs": periodic["runs"],
            "failed, skipped, missed or expired runs": problems,
            "alerts opened / resolved / still open": (
                f"{alerts['opened']} / {alerts['resolved']} / {alerts['still_open']}"
            ),
        }
        rows: list[list[Any]] = []
        for section, items, subject, measures in [
            ("imports", datasets, "dataset", IMPORT_MEASURES),
            ("periodic runs", tasks, "task_name", PERIODIC_MEASURES),
            ("queues", queues, "queue", QUEUE_MEASURES),
        ]:
            rows += [[section, item[subject], m, item.get(m)] for item in items for m in measures]
        rows += [["alerts", "all", measure, alerts[measure]] for measure in ALERT_MEASURES]
        return registry.ReportContent(
            summary=summary,
            detail_header=self.detail_header,
            detail_rows=rows,
            context={
                "datasets": datasets,
                "imports": imports,
                "import_failures": selectors.import_failures(start=start, end=end),
                "tasks": tasks,
                "periodic": periodic,
                "periodic_problems": selectors.periodic_problems(start=start, end=end),
                "alerts": alerts,
                "queues": queues,
                "window_start": start,
                "window_end": end,
            },
            empty=not (imports["jobs"] or problems or any(alerts[m] for m in ALERT_MEASURES)),
        )


registry.register(PlatformDayReport())
