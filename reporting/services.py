"""Writes for reports: definitions and their beat schedule, report runs and sending.

Exactly-once, in short (the long form is docs/reporting.md):
- a scheduled run is a row unique per (definition, business_date, kind='scheduled');
- a run goes pending -> sending -> sent | failed under select_for_update;
- a run found in `sending` by the message that put it there (a redelivery after the
  worker died) is never sent again: the SMTP server may already have accepted it. It is
  marked `unknown` and ops get an alert to check the inbox (at most once in that window);
- an exception from the SMTP backend means the message was not accepted: the run goes
  back to pending and the task retries with exponential backoff and jitter; after the
  last try it is `failed`, reported to Sentry and to the ops alerts.

One module a little over 400 lines: definitions, runs and sending share the run
lifecycle above, which splitting would scatter.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import uuid

import sentry_sdk
from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from ops.services import alert_raise
from reporting import registry
from reporting.business_days import (
    business_date_at,
    business_day_verdict,
    crontab_fields,
    schedule_in_words,
)
from reporting.exceptions import ReportSendFailed
from reporting.models import (
    ATTACHMENT_FORMAT_CHOICES,
    PLATFORM_KIND,
    ReportDefinition,
    ReportRun,
)
from reporting.monitoring import run_alert_subject, run_sent_alerts_resolve
from reporting.rendering import RenderedReport, report_render, report_subject
from schedules.services.audit import (
    periodic_task_write,
    schedule_object_find_or_create,
    schedule_objects_delete,
)
from schedules.timing import next_run_after

logger = logging.getLogger(__name__)

SCHEDULED_TASK_NAME = "reporting.send_scheduled_report"
# The delivery task is enqueued by name (reporting.tasks imports this module, never the
# reverse); its time limits live here because the exactly-once logic depends on them.
DELIVER_TASK_NAME = "reporting.deliver_report_run"
DELIVER_SOFT_TIME_LIMIT = 300
DELIVER_TIME_LIMIT = 330
FINISHED = {
    ReportRun.Status.SENT,
    ReportRun.Status.FAILED,
    ReportRun.Status.SKIPPED,
    ReportRun.Status.UNKNOWN,
}


# --- Definitions and their periodic task -------------------------------------------------


def _schedule_source(definition: ReportDefinition) -> str:
    """How the schedules audit trail names a definition's changes to its beat entry."""
    return f"report definition {definition.name!r} (#{definition.pk})"


@transaction.atomic
def report_definition_schedule_sync(*, definition: ReportDefinition) -> PeriodicTask:
    """Create or update the definition's beat entry; disabled definitions pause it."""
    # Through schedules' audited writes: the beat entry's changes show in the audit trail.
    source = _schedule_source(definition)
    crontab = schedule_object_find_or_create(
        model=CrontabSchedule,
        fields={**crontab_fields(definition=definition), "timezone": definition.timezone},
        source=source,
    )
    wanted = {
        "name": f"report: {definition.name} (#{definition.pk})"[:200],
        "task": SCHEDULED_TASK_NAME,
        "crontab": crontab,
        "interval": None,
        "kwargs": json.dumps({"definition_id": definition.pk}),
        "queue": "reports",
        "enabled": definition.enabled,
        "description": f"Report {definition.name!r}: {schedule_in_words(definition=definition)}. "
        "Managed by the report definition; edit it there.",
    }
    task, outcome = periodic_task_write(
        periodic_task=definition.periodic_task, fields=wanted, source=source
    )
    if outcome == "created":
        definition.periodic_task = task
        ReportDefinition.objects.filter(pk=definition.pk).update(periodic_task=task)
    return task


def _definition_validate(definition: ReportDefinition) -> None:
    definition.full_clean(exclude=["periodic_task"])
    kind = registry.find(definition.kind)
    if kind is None:
        known = ", ".join(key for key, _ in registry.kind_choices())
        raise ValidationError({"kind": f"Unknown report kind {definition.kind!r}; known: {known}"})
    unknown = set(definition.attachment_format_list) - set(dict(ATTACHMENT_FORMAT_CHOICES))
    if unknown:
        raise ValidationError(
            {"attachment_formats": f"Unknown attachment format(s): {', '.join(sorted(unknown))}"}
        )
    try:
        definition.parameters = kind.parameters_stored(definition.parameters or {})
    except ValidationError as exc:
        raise ValidationError({"parameters": exc.messages}) from exc


@transaction.atomic
def report_definition_save(*, definition: ReportDefinition) -> ReportDefinition:
    """The one way a definition is saved (admin, command, code): validated (its kind,
    attachment formats and the kind's parameters too), then its beat entry follows."""
    _definition_validate(definition)
    definition.save()
    report_definition_schedule_sync(definition=definition)
    return definition


def report_definition_create(**fields: object) -> ReportDefinition:
    return report_definition_save(definition=ReportDefinition(**fields))


DEFAULT_REPORT_NAME = "Platform end of day"


@transaction.atomic
def report_definition_ensure_default(*, to: str) -> tuple[ReportDefinition, bool]:
    """The platform report, weekdays 18:00 in TIME_ZONE, to `to`; created only if no
    definition of the platform kind exists, so an admin's edits are never overwritten
    (to stop it, untick *enabled*: deleting it brings it back on the next `make run`)."""
    existing = ReportDefinition.objects.filter(kind=PLATFORM_KIND).order_by("pk").first()
    if existing is not None:
        return existing, False
    name = DEFAULT_REPORT_NAME
    if ReportDefinition.objects.filter(name=name).exists():  # a different report took it
        name = f"{name} (platform)"
    definition = report_definition_create(
        name=name, kind=PLATFORM_KIND, to_recipients=to, send_hour=18, send_minute=0,
        business_weekdays="1,2,3,4,5", timezone=settings.TIME_ZONE, enabled=True,
        attachment_formats="csv",
    )  # fmt: skip
    return definition, True


def report_definition_schedule_remove(*, definition: ReportDefinition) -> None:
    """Called after a definition is deleted (post_delete signal): its beat entry goes
    too, audited with the definition as source."""
    if definition.periodic_task_id:
        schedule_objects_delete(
            objects=list(PeriodicTask.objects.filter(pk=definition.periodic_task_id)),
            source=_schedule_source(definition),
        )


# --- Runs -------------------------------------------------------------------------------------


def _new_run_fields(definition: ReportDefinition, business_date: dt.date) -> dict[str, object]:
    return {
        "to_recipients": ", ".join(definition.to_list),
        "cc_recipients": ", ".join(definition.cc_list),
        "subject": report_subject(definition=definition, business_date=business_date),
    }


@transaction.atomic
def report_scheduled_trigger(*, definition_id: int, now: dt.datetime) -> ReportRun | None:
    """What beat's message does: the scheduled run for the business date at `now`.

    Returns the run (new or the one already there) or None when nothing is due: the
    definition is gone or disabled, or the date is not one of its business weekdays.
    Holidays are recorded as a `skipped` run so the admin shows why no email came.
    Enqueues delivery on commit; delivery is a no-op for a run already handled.
    """
    definition = ReportDefinition.objects.filter(pk=definition_id).first()
    if definition is None or not definition.enabled:
        logger.info("report definition %s is gone or disabled; nothing sent", definition_id)
        return None
    business_date = business_date_at(definition=definition, at=now)
    run, _, why_not = report_scheduled_run_for_day(
        definition=definition, business_date=business_date
    )
    if run is None:
        logger.info("report %s: %s is %s; nothing sent", definition, business_date, why_not)
        return None
    if run.status == ReportRun.Status.PENDING:
        _enqueue_delivery(run_id=run.pk)
    return run


@transaction.atomic
def report_scheduled_run_for_day(
    *, definition: ReportDefinition, business_date: dt.date
) -> tuple[ReportRun | None, bool, str]:
    """The date's scheduled run as the schedule makes it: (run, created, why not).

    A day that is not one of the definition's weekdays has no run (None and the reason);
    a holiday gets a `skipped` run saying which. Shared by beat's trigger and
    `manage.py send_report`, so the command sends on the days the schedule does.
    """
    verdict = business_day_verdict(definition=definition, day=business_date)
    if not verdict.is_business_day and not verdict.is_holiday:
        return None, False, verdict.reason
    run, created = report_scheduled_run_get_or_create(
        definition=definition,
        business_date=business_date,
        skip_reason="" if verdict.is_business_day else verdict.reason,
    )
    return run, created, ""


@transaction.atomic
def report_scheduled_run_get_or_create(
    *, definition: ReportDefinition, business_date: dt.date, skip_reason: str = ""
) -> tuple[ReportRun, bool]:
    """The one scheduled run of a business date; the unique constraint settles races."""
    return ReportRun.objects.get_or_create(
        definition=definition,
        business_date=business_date,
        kind=ReportRun.Kind.SCHEDULED,
        defaults={
            **_new_run_fields(definition, business_date),
            "status": ReportRun.Status.SKIPPED if skip_reason else ReportRun.Status.PENDING,
            "error": f"skipped: {skip_reason}" if skip_reason else "",
        },
    )


@transaction.atomic
def report_run_create(
    *,
    definition: ReportDefinition,
    business_date: dt.date,
    kind: str,
    requested_by: User | None = None,
    to: list[str] | None = None,
    enqueue: bool = True,
) -> ReportRun:
    """An explicit, recorded extra send (resend, test to self, manual); never 'scheduled'."""
    if kind == ReportRun.Kind.SCHEDULED:
        raise ValueError("Scheduled runs are created by the schedule only.")
    fields = _new_run_fields(definition, business_date)
    if to is not None:
        fields.update(to_recipients=", ".join(to), cc_recipients="")
    run = ReportRun.objects.create(
        definition=definition, business_date=business_date, kind=kind,
        requested_by=requested_by, **fields,
    )  # fmt: skip
    if enqueue:
        _enqueue_delivery(run_id=run.pk)
    return run


def report_test_send(
    *, definition: ReportDefinition, user: User, business_date: dt.date
) -> ReportRun:
    if not user.email:
        raise ValueError(
            f"User {user.get_username()!r} has no email address; add one to send a test to yourself."
        )
    return report_run_create(
        definition=definition, business_date=business_date, kind=ReportRun.Kind.TEST,
        requested_by=user, to=[user.email],
    )  # fmt: skip


def report_run_resend(*, run: ReportRun, user: User) -> ReportRun:
    return report_run_create(
        definition=run.definition, business_date=run.business_date,
        kind=ReportRun.Kind.RESEND, requested_by=user,
    )  # fmt: skip


def _enqueue_delivery(*, run_id: int) -> None:
    # After commit, so the worker finds the run. By name: see DELIVER_TASK_NAME.
    signature = current_app.signature(DELIVER_TASK_NAME, args=[run_id])
    transaction.on_commit(functools.partial(signature.apply_async))


def _stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=DELIVER_TIME_LIMIT)


def report_run_deliver(
    *, run_id: int, attempt_id: str | None = None, final_attempt: bool = True
) -> str:
    """Send one run's email at most once; returns the run's status afterwards.

    `attempt_id` is the Celery task id (the same across a redelivery and a retry of one
    message). `final_attempt` says whether an SMTP failure is the last try.
    """
    attempt_id = attempt_id or f"inline-{uuid.uuid4().hex}"
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().select_related("definition").get(pk=run_id)
        if run.status in FINISHED:
            return run.status  # a redelivered or duplicate message: already handled
        if run.status == ReportRun.Status.SENDING:
            return _found_sending(run=run, attempt_id=attempt_id)
    # Render outside the row lock: the 1M-row report takes a moment and holds no lock.
    try:
        rendered = report_render(definition=run.definition, business_date=run.business_date)
    except Exception as exc:
        # Nothing was sent; retried and, after the last try, recorded like an SMTP failure.
        return _send_failed(run_id=run.pk, exc=exc, final_attempt=final_attempt)
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().select_related("definition").get(pk=run_id)
        if run.status != ReportRun.Status.PENDING:
            return run.status  # another message took it while we rendered
        if _skips_when_empty(run, rendered):
            run.status = ReportRun.Status.SKIPPED
            run.subject = rendered.subject
            run.error = f"skipped: empty: {rendered.empty_means}"
            run.save(update_fields=["status", "subject", "error"])
            return run.status
        run.status = ReportRun.Status.SENDING
        run.attempt_task_id = attempt_id
        run.attempts += 1
        run.started_at = timezone.now()
        run.subject = rendered.subject
        run.message_id = make_msgid(idstring=f"report-run-{run.pk}")
        run.save(update_fields=[
            "status", "attempt_task_id", "attempts", "started_at", "subject", "message_id",
        ])  # fmt: skip
    try:
        _send_email(run=run, rendered=rendered)
    except SoftTimeLimitExceeded:
        # Interrupted mid-conversation: the server may or may not have the message.
        _mark_unknown(run_id=run.pk, reason="the send was interrupted by the task's time limit")
        return ReportRun.Status.UNKNOWN
    except Exception as exc:
        return _send_failed(run_id=run.pk, exc=exc, final_attempt=final_attempt)
    ReportRun.objects.filter(pk=run.pk).update(
        status=ReportRun.Status.SENT, sent_at=timezone.now(), error=""
    )
    run_sent_alerts_resolve(run=run)  # a resend that worked ends the failed send's alert
    return ReportRun.Status.SENT


def _skips_when_empty(run: ReportRun, rendered: RenderedReport) -> bool:
    # Only the schedule skips: a test, resend or manual send is asked for by a person.
    return (
        run.kind == ReportRun.Kind.SCHEDULED and run.definition.skip_when_empty and rendered.empty
    )


def _found_sending(*, run: ReportRun, attempt_id: str) -> str:
    recent = run.started_at and timezone.now() - run.started_at < _stale_after()
    if run.attempt_task_id != attempt_id and recent:
        return "in_progress"  # a duplicate message while the first is still sending
    # This message already got as far as SMTP once and never recorded the outcome (the
    # worker died). Sending again could mail everybody twice; don't.
    _mark_unknown(run_id=run.pk, reason="the worker stopped after starting to send")
    return ReportRun.Status.UNKNOWN


def _mark_unknown(*, run_id: int, reason: str) -> None:
    run = ReportRun.objects.select_related("definition").get(pk=run_id)
    error = (
        f"Unknown whether the email went out: {reason}. It was not sent again, so that no "
        f"recipient gets it twice. Check a recipient's inbox for Message-ID {run.message_id}; "
        "if it is missing, use the Resend action."
    )
    with transaction.atomic():  # the status and its alert become visible together
        ReportRun.objects.filter(pk=run_id).update(status=ReportRun.Status.UNKNOWN, error=error)
        _ops_alert(
            kind="report_send_unknown",
            subject=run_alert_subject(run),
            message=error,
        )


def _send_failed(*, run_id: int, exc: Exception, final_attempt: bool) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if not final_attempt:
        ReportRun.objects.filter(pk=run_id).update(status=ReportRun.Status.PENDING, error=error)
        raise ReportSendFailed(error) from exc
    run = ReportRun.objects.select_related("definition").get(pk=run_id)
    # One transaction: whoever sees the run failed also sees its alert (and the Sentry
    # event is already queued), never a failed run without them.
    with transaction.atomic():
        sentry_sdk.capture_exception(exc)
        ReportRun.objects.filter(pk=run_id).update(
            status=ReportRun.Status.FAILED,
            error=f"Failed after {run.attempts} send attempt(s): {error}",
        )
        _ops_alert(
            kind="report_send_failed",
            subject=run_alert_subject(run),
            message=f"The report could not be sent after {run.attempts} attempt(s): {error}",
        )
    logger.error("report run %s failed for good: %s", run_id, error)
    return ReportRun.Status.FAILED


def _send_email(*, run: ReportRun, rendered: RenderedReport) -> None:
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text_body,
        to=[address for address in run.to_recipients.split(", ") if address],
        cc=[address for address in run.cc_recipients.split(", ") if address],
        headers={
            "Message-ID": run.message_id,
            "X-Report-Run": str(run.pk),
            "X-Report-Kind": run.kind,
            "X-Report-Business-Date": run.business_date.isoformat(),
        },
    )
    message.attach_alternative(rendered.html_body, "text/html")
    for attachment in rendered.attachments:
        message.attach(attachment.name, attachment.content, attachment.mimetype)
    message.send(fail_silently=False)


def _ops_alert(*, kind: str, subject: str, message: str) -> None:
    logger.error("ops alert %s %s: %s", kind, subject, message)
    alert_raise(kind=kind, subject=subject, message=message)


# --- The safety net for sends whose message was lost ---------------------------------

# A scheduled send is looked for this long after its due time (beat's own trigger, a
# beat catching up after downtime, a queue backlog come first)...
CATCH_UP_AFTER = dt.timedelta(seconds=30)
# ...and this far back: a report an hour late is still worth sending, yesterday's not.
CATCH_UP_LOOKBACK = dt.timedelta(hours=1)
# A run never attempted this long after it was made lost its delivery message.
DELIVERY_LOST_AFTER = dt.timedelta(seconds=60)


def _latest_due(definition: ReportDefinition, *, now: dt.datetime) -> dt.datetime | None:
    """The definition's latest due time in (now - lookback, now - CATCH_UP_AFTER]."""
    task = definition.periodic_task
    if task is None or task.crontab is None or not task.enabled:
        return None
    schedule = task.crontab.schedule
    latest = None
    moment: dt.datetime | None = now - CATCH_UP_LOOKBACK
    while moment is not None:
        moment = next_run_after(schedule, moment)
        if moment is None or moment > now - CATCH_UP_AFTER:
            break
        latest = moment
    return latest


def report_sends_catch_up(*, now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Sends what beat's message or a delivery message would have sent, had Redis not
    lost it (Redis down or restarted empty at the due time, a beat that could not send):

    - a definition whose latest due time (within the last hour, after its last edit) has
      no scheduled run for its business date is triggered as beat would have, for that
      due time (`report_scheduled_trigger`: one run per business date, unique);
    - a run still pending, never attempted, a minute after it was made gets a delivery
      message (a duplicate of one still queued is a no-op: the run's row lock decides).
    """
    now = now or timezone.now()
    triggered = []
    for definition in ReportDefinition.objects.filter(
        enabled=True, periodic_task__isnull=False
    ).select_related("periodic_task__crontab"):
        due = _latest_due(definition, now=now)
        if due is None or due <= definition.updated_at:
            continue
        business_date = business_date_at(definition=definition, at=due)
        if ReportRun.objects.filter(
            definition=definition, business_date=business_date, kind=ReportRun.Kind.SCHEDULED
        ).exists():
            continue
        run = report_scheduled_trigger(definition_id=definition.pk, now=due)
        if run is not None:
            logger.warning("report %s due at %s had no run: triggered now", definition, due)
            triggered.append(run.pk)
    lost = list(
        ReportRun.objects.filter(
            status=ReportRun.Status.PENDING, attempts=0, created_at__lt=now - DELIVERY_LOST_AFTER
        ).values_list("pk", flat=True)
    )
    for run_id in lost:
        with transaction.atomic():
            _enqueue_delivery(run_id=run_id)
        logger.warning("report run %s was never attempted: delivery sent again", run_id)
    return {"triggered": triggered, "delivery_resent": lost}
