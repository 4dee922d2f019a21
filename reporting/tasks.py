"""Thin entry points; the logic is in reporting.services."""

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from reporting.exceptions import ReportSendFailed
from reporting.services import (
    DELIVER_SOFT_TIME_LIMIT,
    DELIVER_TASK_NAME,
    DELIVER_TIME_LIMIT,
    SCHEDULED_TASK_NAME,
    report_run_deliver,
    report_scheduled_trigger,
    report_sends_catch_up,
)
from schedules.locking import PeriodicOnceTask


@shared_task(
    name=SCHEDULED_TASK_NAME, acks_late=True, reject_on_worker_lost=True,
    soft_time_limit=60, time_limit=90,
    autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=5,
)  # fmt: skip
def send_scheduled_report(definition_id: int) -> dict:
    """Beat's entry point. Idempotent: the scheduled run is unique per business date."""
    run = report_scheduled_trigger(definition_id=definition_id, now=timezone.now())
    if run is None:
        return {"run": None}
    return {"run": run.pk, "business_date": run.business_date.isoformat(), "status": run.status}


@shared_task(
    bind=True, name=DELIVER_TASK_NAME, acks_late=True, reject_on_worker_lost=True,
    soft_time_limit=DELIVER_SOFT_TIME_LIMIT, time_limit=DELIVER_TIME_LIMIT,
    autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=5,
)  # fmt: skip
def deliver_report_run(self, run_id: int) -> str:
    """Send one report run. Idempotent: the run's status row decides, under a row lock.

    SMTP failures retry like retry_backoff/retry_jitter would, but with the bound and
    base read from settings when the task runs (so an operator or a test can change
    them without re-importing the task): full jitter over base * 2**retries, capped.
    """
    max_retries = settings.REPORTING_SEND_MAX_RETRIES
    try:
        return report_run_deliver(
            run_id=run_id,
            attempt_id=self.request.id,
            final_attempt=self.request.retries >= max_retries,
        )
    except ReportSendFailed as exc:
        countdown = get_exponential_backoff_interval(
            factor=settings.REPORTING_SEND_RETRY_BACKOFF,
            retries=self.request.retries,
            maximum=settings.REPORTING_SEND_RETRY_BACKOFF_MAX,
            full_jitter=True,
        )
        raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc


@shared_task(
    base=PeriodicOnceTask, name="reporting.catch_up_sends", once={"graceful": True},
    soft_time_limit=50, time_limit=60,
)  # fmt: skip
def catch_up_sends() -> dict:
    """The safety net for report sends whose message Redis lost (beat's, or a delivery)."""
    return report_sends_catch_up()
