"""A definition's own beat entry fires on time, and two beats still send one email."""

import datetime as dt

import pytest
from django.utils import timezone

from reporting.models import ReportRun
from tests.support.processes import wait_for


@pytest.mark.slow
def test_two_beats_firing_the_same_report_send_one_email(
    celery_worker, beat_process, smtp_server, sales, make_definition
):
    now = timezone.now().astimezone(dt.UTC)
    # The next whole minute that leaves the beats time to start.
    fire_at = (now + dt.timedelta(minutes=2 if now.second > 40 else 1)).replace(second=0)
    definition = make_definition(
        timezone="UTC", send_hour=fire_at.hour, send_minute=fire_at.minute,
        business_weekdays="1,2,3,4,5,6,7",
    )  # fmt: skip
    # Plain DatabaseScheduler on both, so nothing but the report run's unique
    # constraint stands between two beats and two emails.
    plain = ["-S", "django_celery_beat.schedulers:DatabaseScheduler"]
    beats = [beat_process(extra_args=plain), beat_process(extra_args=plain)]

    run = wait_for(
        lambda: ReportRun.objects.filter(definition=definition, status="sent").first(),
        timeout=150,
        message="the report sent by beat; beat log:\n" + beats[0].log()[-2000:],
    )
    wait_for(lambda: all("reporting.send_scheduled_report" in b.log() for b in beats), timeout=30,
             message="both beats to have sent the task")  # fmt: skip
    wait_for(lambda: not ReportRun.objects.filter(status__in=["pending", "sending"]).exists(),
             timeout=30)  # fmt: skip
    assert ReportRun.objects.filter(definition=definition).count() == 1
    assert run.kind == ReportRun.Kind.SCHEDULED
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0]["Subject"] == f"Daily sales — {run.business_date.isoformat()}"
