"""Exactly-once sending through a real worker, a real Redis broker and a real SMTP server."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from ops.models import Alert
from reporting.exceptions import ReportSendFailed
from reporting.models import ReportDefinition, ReportRun
from reporting.services import (
    report_run_create,
    report_run_deliver,
    report_scheduled_trigger,
)
from reporting.tasks import deliver_report_run, send_scheduled_report
from tests.reporting.conftest import FORMULA_NAME, FRIDAY
from tests.support.processes import wait_for

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_1800 = dt.datetime(2026, 11, 20, 18, 0, tzinfo=BERLIN)


def wait_for_status(run, *statuses, timeout=30):
    wait_for(
        lambda: ReportRun.objects.get(pk=run.pk).status in statuses,
        timeout=timeout,
        message=f"run {run.pk} to become {statuses}",
    )
    return ReportRun.objects.get(pk=run.pk)


@pytest.mark.slow
def test_friday_report_arrives_by_smtp_with_headers_both_bodies_and_escaped_csv(
    celery_worker, smtp_server, sales, make_definition
):
    definition = make_definition()
    run = report_scheduled_trigger(definition_id=definition.pk, now=FRIDAY_1800)
    run = wait_for_status(run, ReportRun.Status.SENT)

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["Subject"] == "Daily sales — 2026-11-20"
    assert message["To"] == "ceo@example.com, ops@example.com"
    assert message["Cc"] == "audit@example.com"
    assert message["From"] == "batch-platform <noreply@localhost>"
    assert message["Message-ID"] == run.message_id
    assert message["X-Report-Business-Date"] == "2026-11-20"
    _, rcpt_tos = smtp_server.envelopes[0]
    assert sorted(rcpt_tos) == ["audit@example.com", "ceo@example.com", "ops@example.com"]

    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Revenue: 115.99 (+29.99, +34.9% day over day)" in text
    assert "<td>Bakery</td>" in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "daily-sales-2026-11-20.csv"
    assert attachment.get_content_type() == "text/csv"
    rows = list(csv.reader(io.StringIO(attachment.get_content().lstrip("\ufeff"))))
    assert rows[0][:3] == ["sku", "product", "category"]
    assert len(rows) == 5  # header and four products
    formula_row = next(row for row in rows if row[0] == "SKU-3")
    assert formula_row[1] == "'" + FORMULA_NAME

    assert run.kind == ReportRun.Kind.SCHEDULED
    assert run.sent_at is not None
    assert run.attempts == 1


@pytest.mark.slow
def test_beat_task_through_the_worker_sends_once_even_when_delivered_twice(
    celery_worker, smtp_server, sales, make_definition
):
    # Every weekday is a business day, so the real clock's date always is one.
    definition = make_definition(business_weekdays="1,2,3,4,5,6,7")
    first = send_scheduled_report.delay(definition.pk).get(timeout=30)
    second = send_scheduled_report.delay(definition.pk).get(timeout=30)
    assert first["run"] == second["run"]
    wait_for_status(ReportRun(pk=first["run"]), ReportRun.Status.SENT)
    deliver_report_run.delay(first["run"]).get(timeout=30)
    assert ReportRun.objects.filter(definition=definition).count() == 1
    assert len(smtp_server.messages) == 1


@pytest.mark.slow
def test_redelivered_send_message_does_not_send_twice(
    celery_worker, smtp_server, sales, make_definition
):
    run = report_scheduled_trigger(definition_id=make_definition().pk, now=FRIDAY_1800)
    wait_for_status(run, ReportRun.Status.SENT)
    task_id = ReportRun.objects.get(pk=run.pk).attempt_task_id
    # The broker hands the very same message (same task id) to a worker again.
    assert deliver_report_run.apply_async(args=[run.pk], task_id=task_id).get(timeout=30) == "sent"
    assert len(smtp_server.messages) == 1


def test_saturday_sunday_and_a_holiday_send_nothing(smtp_server, sales, make_definition):
    definition = make_definition(holiday_country="DE")
    saturday = dt.datetime(2026, 11, 21, 18, 0, tzinfo=BERLIN)
    sunday = dt.datetime(2026, 11, 22, 18, 0, tzinfo=BERLIN)
    assert report_scheduled_trigger(definition_id=definition.pk, now=saturday) is None
    assert report_scheduled_trigger(definition_id=definition.pk, now=sunday) is None
    christmas = dt.datetime(2026, 12, 25, 18, 0, tzinfo=BERLIN)
    run = report_scheduled_trigger(definition_id=definition.pk, now=christmas)
    assert run.status == ReportRun.Status.SKIPPED
    assert run.error.startswith("skipped: holiday: ")
    assert list(ReportRun.objects.values_list("business_date", flat=True)) == [
        dt.date(2026, 12, 25)
    ]
    assert smtp_server.messages == []


def test_two_beats_and_a_retry_make_one_scheduled_run(
    django_capture_on_commit_callbacks, make_definition
):
    definition = make_definition()
    with django_capture_on_commit_callbacks() as callbacks:
        runs = {
            report_scheduled_trigger(definition_id=definition.pk, now=FRIDAY_1800).pk
            for _ in range(3)
        }
    assert len(runs) == 1
    assert ReportRun.objects.filter(kind=ReportRun.Kind.SCHEDULED).count() == 1
    assert len(callbacks) == 3  # each enqueues delivery; delivery itself is idempotent


def test_a_disabled_or_deleted_definition_sends_nothing(make_definition):
    definition = make_definition(enabled=False)
    assert report_scheduled_trigger(definition_id=definition.pk, now=FRIDAY_1800) is None
    assert report_scheduled_trigger(definition_id=999_999, now=FRIDAY_1800) is None


def test_delivering_a_sent_run_again_is_a_no_op(smtp_server, sales, make_definition):
    run = report_run_create(
        definition=make_definition(), business_date=FRIDAY, kind=ReportRun.Kind.MANUAL,
        enqueue=False,
    )  # fmt: skip
    assert report_run_deliver(run_id=run.pk, attempt_id="a") == "sent"
    assert report_run_deliver(run_id=run.pk, attempt_id="a") == "sent"
    assert report_run_deliver(run_id=run.pk, attempt_id="b") == "sent"
    assert len(smtp_server.messages) == 1


def test_worker_died_after_smtp_accepted_marks_unknown_and_alerts_instead_of_resending(
    smtp_server, sales, make_definition
):
    run = report_run_create(
        definition=make_definition(), business_date=FRIDAY, kind=ReportRun.Kind.RESEND,
        enqueue=False,
    )  # fmt: skip
    # The state a worker leaves behind if it dies between SMTP's 250 and recording it.
    ReportRun.objects.filter(pk=run.pk).update(
        status=ReportRun.Status.SENDING, attempt_task_id="task-1", started_at=timezone.now(),
        message_id="<report-run-x@example>",
    )  # fmt: skip
    assert report_run_deliver(run_id=run.pk, attempt_id="task-1") == "unknown"
    run.refresh_from_db()
    assert run.status == ReportRun.Status.UNKNOWN
    assert "Check a recipient's inbox for Message-ID <report-run-x@example>" in run.error
    assert smtp_server.messages == []
    alert = Alert.objects.get(kind="report_send_unknown")
    assert alert.status == Alert.Status.OPEN
    assert alert.subject == f"Daily sales 2026-11-20 (resend run #{run.pk})"


def test_a_duplicate_message_while_another_is_sending_leaves_it_alone(make_definition):
    run = report_run_create(
        definition=make_definition(), business_date=FRIDAY, kind=ReportRun.Kind.MANUAL,
        enqueue=False,
    )  # fmt: skip
    ReportRun.objects.filter(pk=run.pk).update(
        status=ReportRun.Status.SENDING, attempt_task_id="task-1", started_at=timezone.now()
    )
    assert report_run_deliver(run_id=run.pk, attempt_id="task-2") == "in_progress"
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.SENDING
    assert not Alert.objects.exists()


@pytest.mark.slow
@pytest.mark.fault
def test_smtp_server_refusing_leads_to_retries_then_a_recorded_failure_sentry_and_alert(
    celery_worker, smtp_server, fast_retries, sales, make_definition, monkeypatch
):
    reported = []
    monkeypatch.setattr("reporting.services.sentry_sdk.capture_exception", reported.append)
    smtp_server.refuse_with = "451 4.3.0 Mailbox temporarily unavailable"
    run = report_scheduled_trigger(definition_id=make_definition().pk, now=FRIDAY_1800)
    run = wait_for_status(run, ReportRun.Status.FAILED)

    assert smtp_server.refusals == 3  # the first try and two retries
    assert run.attempts == 3
    assert "Failed after 3 send attempt(s): SMTPDataError" in run.error
    assert "451" in run.error
    assert smtp_server.messages == []
    assert len(reported) == 1
    alert = Alert.objects.get(kind="report_send_failed")
    assert alert.subject == f"Daily sales 2026-11-20 (scheduled run #{run.pk})"


@pytest.mark.fault
def test_nothing_listening_on_the_smtp_port_is_retried_then_failed(
    settings, sales, make_definition, monkeypatch
):
    from tests.support.network import free_port

    monkeypatch.setattr("reporting.services.sentry_sdk.capture_exception", lambda exc: None)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    run = report_run_create(
        definition=make_definition(), business_date=FRIDAY, kind=ReportRun.Kind.MANUAL,
        enqueue=False,
    )  # fmt: skip
    with pytest.raises(ReportSendFailed, match="ConnectionRefusedError"):
        report_run_deliver(run_id=run.pk, attempt_id="t", final_attempt=False)
    assert ReportRun.objects.get(pk=run.pk).status == ReportRun.Status.PENDING
    assert report_run_deliver(run_id=run.pk, attempt_id="t", final_attempt=True) == "failed"
    run.refresh_from_db()
    assert run.attempts == 2
    assert "ConnectionRefusedError" in run.error
    assert Alert.objects.filter(kind="report_send_failed", status="open").count() == 1


def test_resend_and_test_send_are_their_own_recorded_runs(
    smtp_server, sales, make_definition, django_user_model
):
    definition = make_definition()
    user = django_user_model.objects.create_user("ann", email="ann@example.com")
    scheduled = report_scheduled_trigger(definition_id=definition.pk, now=FRIDAY_1800)
    from reporting.services import report_run_resend, report_test_send

    resend = report_run_resend(run=scheduled, user=user)
    test = report_test_send(definition=definition, user=user, business_date=FRIDAY)
    for run in (scheduled, resend, test):
        assert report_run_deliver(run_id=run.pk, attempt_id=f"t{run.pk}") == "sent"
    kinds = dict(ReportRun.objects.values_list("kind", "to_recipients"))
    assert kinds == {
        "scheduled": "ceo@example.com, ops@example.com",
        "resend": "ceo@example.com, ops@example.com",
        "test": "ann@example.com",
    }
    assert [m["To"] for m in smtp_server.messages] == [
        "ceo@example.com, ops@example.com", "ceo@example.com, ops@example.com", "ann@example.com",
    ]  # fmt: skip
    assert smtp_server.messages[2]["Cc"] is None


def test_a_report_that_cannot_be_built_is_retried_then_recorded_as_failed(
    make_definition, monkeypatch
):
    monkeypatch.setattr("reporting.services.sentry_sdk.capture_exception", lambda exc: None)
    definition = make_definition()
    ReportDefinition.objects.filter(pk=definition.pk).update(kind="retired_kind")
    run = report_run_create(
        definition=definition, business_date=FRIDAY, kind=ReportRun.Kind.MANUAL, enqueue=False
    )
    with pytest.raises(ReportSendFailed, match="Unknown report kind 'retired_kind'"):
        report_run_deliver(run_id=run.pk, attempt_id="t", final_attempt=False)
    assert report_run_deliver(run_id=run.pk, attempt_id="t", final_attempt=True) == "failed"
    run.refresh_from_db()
    assert "Unknown report kind 'retired_kind'" in run.error
    assert Alert.objects.filter(kind="report_send_failed").exists()
