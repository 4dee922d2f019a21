"""The platform's own end-of-day report: imports, periodic runs, alerts and queues of a
business day, with no sample-domain code, in a fixed number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batches.models import ImportJob
from ops.models import Alert, Heartbeat, QueueSample
from reporting.models import PLATFORM_KIND, ReportRun
from reporting.rendering import report_render
from reporting.services import report_definition_create, report_run_deliver
from schedules.models import TaskRun
from tests.reporting.conftest import FRIDAY

BERLIN = ZoneInfo("Europe/Berlin")
ALERTS = "Ops alerts"


def at(hour: int, minute: int = 0, day: dt.date = FRIDAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BERLIN)


BEFORE = at(23, 30, FRIDAY - dt.timedelta(days=1))  # Thursday evening, Berlin
AFTER = at(0, 30, FRIDAY + dt.timedelta(days=1))  # Saturday just after midnight


@pytest.fixture
def platform_definition(db):
    return report_definition_create(
        name="Platform day", kind=PLATFORM_KIND, to_recipients="ops@example.com",
        timezone="Europe/Berlin", attachment_formats="csv,xlsx",
    )  # fmt: skip


def make_job(dataset, status, created_at, **rows):
    job = ImportJob.objects.create(dataset=dataset, status=status, file="x.csv", **rows)
    ImportJob.objects.filter(pk=job.pk).update(created_at=created_at)
    return job


def make_alert(kind, subject, opened, resolved=None, severity="red"):
    return Alert.objects.create(
        kind=kind, subject=subject, severity=severity, message="m",
        status="resolved" if resolved else "open",
        first_seen_at=opened, last_seen_at=resolved or opened, resolved_at=resolved,
    )  # fmt: skip


def a_day_of_platform_activity(copies: int = 1, first: int = 0) -> None:
    """Imports, periodic runs, alerts, heartbeats and queue samples around Friday,
    `copies` times over (the figures scale, the query count must not)."""
    for copy in range(first, first + copies):
        make_job("airports", "succeeded", at(9), rows_total=100, rows_new=90, rows_updated=10)
        make_job("airports", "partially_failed", at(10), rows_total=50, rows_new=40,
                 rows_unchanged=5, rows_rejected=5, error="5 rows rejected")  # fmt: skip
        make_job("stations", "failed", at(11), error="missing column 'code'")
        make_job("airports", "succeeded", AFTER, rows_total=7, rows_new=7)
        for status, queued_at in [
            ("succeeded", at(8)), ("succeeded", at(9)), ("failed", at(10)),
            ("skipped", at(10, 1)), ("missed", at(12)), ("expired", at(13)),
            ("failed", BEFORE), ("failed", AFTER),
        ]:  # fmt: skip
            TaskRun.objects.create(
                task_name="batches.scan_inbox", status=status, queued_at=queued_at,
                error="boom" if status == "failed" else "",
            )  # fmt: skip
        TaskRun.objects.create(task_name="ops.prune", status="succeeded", queued_at=at(3))
        subject = f"#{copy}"
        make_alert(
            "queue_latency", f"imports {subject}", at(9), resolved=at(9, 30), severity="amber"
        )
        make_alert("import_failed", f"stations {subject}", at(11))
        make_alert("beat_stalled", f"beat {subject}", BEFORE, resolved=at(7))
        make_alert("queue_no_worker", f"reports {subject}", BEFORE)
        make_alert("queue_depth", f"old {subject}", BEFORE - dt.timedelta(days=1),
                   resolved=BEFORE)  # fmt: skip
        make_alert("queue_depth", f"later {subject}", AFTER)
        for queue, latency, started_at in [
            ("imports", 0.5, at(9)), ("imports", 1.5, at(10)), ("imports", 4.0, at(11)),
            ("reports", 0.25, at(9)), ("imports", 99.0, AFTER),
        ]:  # fmt: skip
            Heartbeat.objects.create(
                queue=queue, celery_task_id=f"hb-{copy}-{queue}-{started_at:%H%M%d}",
                sent_at=started_at, started_at=started_at, latency=latency,
            )  # fmt: skip
        for queue, depth, consumers, sampled_at in [
            ("imports", 0, 1, at(9)), ("imports", 10, 1, at(10)), ("imports", 40, 0, at(11)),
            ("reports", 2, 1, at(9)), ("imports", 5000, 0, AFTER),
        ]:  # fmt: skip
            QueueSample.objects.create(
                queue=queue, depth=depth, consumers=consumers, sampled_at=sampled_at
            )


def test_the_platform_report_renders_on_an_empty_database(platform_definition):
    rendered = report_render(definition=platform_definition, business_date=FRIDAY)
    text = rendered.text_body
    assert rendered.subject == "Platform day — 2026-11-20"
    assert (
        "The platform's business day Friday 20 November 2026, 00:00 to 24:00 Europe/Berlin" in text
    )
    assert "Import jobs: 0" in text
    assert "No imports." in text
    assert "No periodic runs recorded." in text
    assert "0 opened, 0 resolved, 0 still open at the end of the day." in text
    assert "- imports: no heartbeat; no sample" in text
    assert rendered.empty
    assert "A quiet day: no import, no failed, skipped, missed or expired periodic run" in text
    assert "<p>No imports.</p>" in rendered.html_body
    assert [file.name for file in rendered.attachments] == [
        "platform-day-2026-11-20.csv", "platform-day-2026-11-20.xlsx",
    ]  # fmt: skip


def test_the_platform_report_tells_a_day_of_imports_runs_alerts_and_queues(platform_definition):
    a_day_of_platform_activity()
    rendered = report_render(definition=platform_definition, business_date=FRIDAY)
    text = rendered.text_body

    assert "Import jobs: 3" in text
    assert "Rows new / updated / rejected: 130 / 10 / 5" in text
    assert "Failed imports: 2" in text
    assert "- airports: 2 jobs, 130 new, 10 updated, 5 unchanged, 5 rejected, 1 failed" in text
    assert "- stations: 1 job, 0 new, 0 updated, 0 unchanged, 0 rejected, 1 failed" in text
    assert "stations at 11:00: failed, 0 of 0 rows rejected: missing column 'code'" in text

    assert "Periodic runs: 7" in text
    assert "Failed, skipped, missed or expired runs: 4" in text
    assert (
        "- batches.scan_inbox: 6 runs, 2 succeeded, 1 failed, 1 skipped, 1 missed, 1 expired"
        in text
    )
    assert "- ops.prune: 1 run, 1 succeeded, 0 failed" in text
    assert "! batches.scan_inbox: expired at 13:00" in text
    assert "! batches.scan_inbox: failed at 10:00: boom" in text

    # Opened today: latency (resolved today) and import_failed (open); resolved today:
    # latency and beat_stalled (opened yesterday); open at the end: import_failed and
    # queue_no_worker (opened yesterday). The alert opened after midnight is not the day's.
    assert "2 opened, 2 resolved, 2 still open at the end of the day." in text
    assert (
        "- [amber] Queue slow to start tasks: imports #0, opened 2026-11-20 09:00, resolved 09:30"
        in text
    )
    assert (
        "- [red] Queues without a worker: reports #0, opened 2026-11-19 23:30, still open" in text
    )
    assert "later #0" not in text
    assert "old #0" not in text

    assert "- imports: latency 2.00 / 3.75 / 4.00; depth 17 / 40; workers 0" in text
    assert "- reports: latency 0.25 / 0.25 / 0.25; depth 2 / 2; workers 1" in text
    assert "- ops: no heartbeat; no sample" in text
    assert not rendered.empty

    html = rendered.html_body
    assert "<td>airports</td>" in html.replace(' style="border: 1px solid #d0d7de;"', "")
    assert "Queue slow to start tasks" in html


def test_the_platform_reports_attachment_has_one_figure_per_row_numbers_as_numbers(
    platform_definition,
):
    a_day_of_platform_activity()
    rendered = report_render(definition=platform_definition, business_date=FRIDAY)
    rows = list(csv.reader(io.StringIO(rendered.attachment.decode("utf-8-sig"))))
    assert rows[0] == ["section", "subject", "measure", "value"]
    figures = {(row[0], row[1], row[2]): row[3] for row in rows[1:]}
    assert figures[("imports", "airports", "rows_rejected")] == "5"
    assert figures[("periodic runs", "batches.scan_inbox", "expired")] == "1"
    assert figures[("alerts", "all", "still_open")] == "2"
    assert figures[("queues", "imports", "depth_max")] == "40"
    assert figures[("queues", "ops", "latency_max")] == ""


def test_the_platform_report_takes_the_same_queries_whatever_the_data_size(platform_definition):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            report_render(definition=platform_definition, business_date=FRIDAY)
        return len(captured.captured_queries)

    empty = queries()
    a_day_of_platform_activity(copies=1)
    one_day = queries()
    a_day_of_platform_activity(copies=20, first=1)
    many = queries()
    assert empty == one_day == many <= 8


def test_skip_when_empty_records_a_skipped_scheduled_run_and_sends_nothing(
    platform_definition, mailoutbox
):
    from reporting.services import report_definition_save, report_scheduled_run_get_or_create

    platform_definition.skip_when_empty = True
    report_definition_save(definition=platform_definition)
    run, _ = report_scheduled_run_get_or_create(
        definition=platform_definition, business_date=FRIDAY
    )

    assert report_run_deliver(run_id=run.pk, attempt_id="a") == ReportRun.Status.SKIPPED
    run.refresh_from_db()
    assert run.error == (
        "skipped: empty: no import, no failed, skipped, missed or expired periodic run, "
        "and no alert"
    )
    assert mailoutbox == []
    assert report_run_deliver(run_id=run.pk, attempt_id="b") == ReportRun.Status.SKIPPED


def test_a_test_send_of_an_empty_day_still_goes_out(
    platform_definition, mailoutbox, django_user_model
):
    from reporting.services import report_definition_save, report_test_send

    platform_definition.skip_when_empty = True
    report_definition_save(definition=platform_definition)
    user = django_user_model.objects.create_user("ann", email="ann@example.com")
    run = report_test_send(definition=platform_definition, user=user, business_date=FRIDAY)

    assert report_run_deliver(run_id=run.pk, attempt_id="a") == ReportRun.Status.SENT
    [message] = mailoutbox
    assert [name for name, _, _ in message.attachments] == [
        "platform-day-2026-11-20.csv", "platform-day-2026-11-20.xlsx",
    ]  # fmt: skip


def test_a_day_with_activity_is_sent_even_with_skip_when_empty(platform_definition, mailoutbox):
    from reporting.services import report_definition_save, report_scheduled_run_get_or_create

    a_day_of_platform_activity()
    platform_definition.skip_when_empty = True
    report_definition_save(definition=platform_definition)
    run, _ = report_scheduled_run_get_or_create(
        definition=platform_definition, business_date=FRIDAY
    )
    assert report_run_deliver(run_id=run.pk, attempt_id="a") == ReportRun.Status.SENT
    assert mailoutbox[0].subject == "Platform day — 2026-11-20"
