"""The safety net for report sends whose message Redis lost (`report_sends_catch_up`)."""

import datetime as dt

from reporting.models import ReportDefinition, ReportRun
from reporting.services import report_run_create, report_run_deliver, report_sends_catch_up
from tests.reporting.conftest import FRIDAY
from tests.reporting.test_sending import BERLIN, FRIDAY_1800


def _made_long_ago(definition: ReportDefinition) -> ReportDefinition:
    ReportDefinition.objects.filter(pk=definition.pk).update(
        updated_at=FRIDAY_1800 - dt.timedelta(days=3)
    )
    return definition


def test_a_due_send_beat_never_made_is_triggered_for_its_due_time_and_sent_once(
    django_capture_on_commit_callbacks, smtp_server, sales, make_definition
):
    definition = _made_long_ago(make_definition())  # due Fridays 18:00 Berlin
    later = FRIDAY_1800 + dt.timedelta(minutes=2)

    with django_capture_on_commit_callbacks() as callbacks:
        found = report_sends_catch_up(now=later)
        again = report_sends_catch_up(now=later + dt.timedelta(minutes=1))

    run = ReportRun.objects.get(definition=definition)
    assert found == {"triggered": [run.pk], "delivery_resent": []}
    assert again == {"triggered": [], "delivery_resent": []}  # the run exists now
    assert (run.kind, run.business_date) == (ReportRun.Kind.SCHEDULED, FRIDAY)
    assert len(callbacks) == 1  # its delivery message
    assert report_run_deliver(run_id=run.pk) == ReportRun.Status.SENT
    assert len(smtp_server.messages) == 1


def test_recent_due_times_old_ones_and_those_before_an_edit_are_left_alone(make_definition):
    definition = _made_long_ago(make_definition())

    assert report_sends_catch_up(now=FRIDAY_1800 + dt.timedelta(seconds=10))["triggered"] == []
    assert report_sends_catch_up(now=FRIDAY_1800 + dt.timedelta(hours=2))["triggered"] == []
    ReportDefinition.objects.filter(pk=definition.pk).update(
        updated_at=FRIDAY_1800 + dt.timedelta(seconds=5)
    )  # edited after its due time: the new schedule starts from the edit
    assert report_sends_catch_up(now=FRIDAY_1800 + dt.timedelta(minutes=2))["triggered"] == []
    assert not ReportRun.objects.exists()


def test_a_run_never_attempted_a_minute_after_it_was_made_gets_its_delivery_again(
    django_capture_on_commit_callbacks, make_definition
):
    definition = _made_long_ago(make_definition())
    runs = [
        report_run_create(
            definition=definition, business_date=FRIDAY, kind=ReportRun.Kind.MANUAL, enqueue=False
        )
        for _ in range(3)
    ]
    lost, attempted, recent = runs
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    ReportRun.objects.filter(pk__in=[lost.pk, attempted.pk]).update(
        created_at=now - dt.timedelta(minutes=5)
    )
    ReportRun.objects.filter(pk=attempted.pk).update(attempts=1, error="SMTP 451, retrying")
    ReportRun.objects.filter(pk=recent.pk).update(created_at=now - dt.timedelta(seconds=20))

    with django_capture_on_commit_callbacks() as callbacks:
        found = report_sends_catch_up(now=now)

    assert found == {"triggered": [], "delivery_resent": [lost.pk]}
    assert len(callbacks) == 1
