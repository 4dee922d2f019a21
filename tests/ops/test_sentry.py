"""What Sentry would receive, captured at the SDK's transport: scrubbed, with release,
environment and cron check-ins."""

from __future__ import annotations

import logging

import pytest
import sentry_sdk
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from ops import crons
from ops.sentry import init_sentry
from tests.ops.tasks import fail_on_purpose, locked_job
from tests.support.processes import wait_for
from tests.support.sentry import CapturingTransport, captured
from tests.support.tasks import record_tick


@pytest.fixture
def sentry_capture(monkeypatch):
    import celery.app.trace
    import celery.worker.consumer.consumer

    CapturingTransport.envelopes = []
    init_sentry(
        dsn="https://public@sentry.example.invalid/1",
        environment="test-env",
        release="batch-platform@test",
        transport=CapturingTransport,
    )
    # The in-process test worker's consumer imported build_tracer before Sentry patched
    # it (a real worker loads settings, and so Sentry, first); hand it the patched one.
    monkeypatch.setattr(
        celery.worker.consumer.consumer, "build_tracer", celery.app.trace.build_tracer
    )
    yield captured
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # back to an inactive client for the next tests


def test_error_reaches_sentry_with_release_environment_and_no_personal_data(sentry_capture):
    with sentry_sdk.new_scope() as scope:
        scope.set_extra("row", {"email": "ann@example.com", "name": "Ann", "price": "9.90"})
        scope.set_extra("values", ["Ann", "ann@example.com"])
        scope.set_extra("note", "contact bob.smith+x@mail.example.org please")
        try:
            raise ValueError("Row 3: customer ann@example.com already exists")
        except ValueError:
            sentry_sdk.capture_exception()
    [event] = sentry_capture("event")
    assert event["release"] == "batch-platform@test"
    assert event["environment"] == "test-env"
    assert event["exception"]["values"][0]["value"] == "Row 3: customer [scrubbed] already exists"
    assert event["extra"]["row"] == "[scrubbed]"
    assert event["extra"]["values"] == "[scrubbed]"
    assert event["extra"]["note"] == "contact [scrubbed] please"
    assert "ann@example.com" not in str(event)
    assert "Ann" not in str(event["extra"])


def test_sentry_starts_without_deprecation_warnings(recwarn):
    init_sentry(dsn="https://public@sentry.example.invalid/1", environment="t", release="r")
    try:
        deprecations = [w for w in recwarn.list if issubclass(w.category, DeprecationWarning)]
        assert not [str(w.message) for w in deprecations if "sentry" in w.filename]
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()


@pytest.mark.urls("tests.ops.sentry_urls")
def test_a_failing_request_reaches_sentry_without_user_cookies_query_or_body(
    sentry_capture, client, django_user_model
):
    user = django_user_model.objects.create_user(
        "ann.private", email="ann.private@example.com", password="pw"
    )
    client.force_login(user)
    client.raise_request_exception = False

    response = client.post(
        "/fail/?search=ann.private@example.com",
        {"email": "ann.private@example.com", "row": "Ann,Private"},
        HTTP_COOKIE="tracking=ann.private",
    )

    assert response.status_code == 500
    [event] = sentry_capture("event")
    assert event["transaction"] == "/fail/"
    request = event.get("request", {})
    assert not request.get("query_string")
    assert not request.get("cookies")
    assert not request.get("data")
    assert "Cookie" not in request.get("headers", {})
    assert "ann.private" not in str(event.get("user", {}))
    assert "ann.private" not in str(event)


def test_release_defaults_to_something_identifiable(monkeypatch):
    from ops.sentry import default_release

    monkeypatch.delenv("SENTRY_RELEASE", raising=False)
    assert default_release()


def test_failed_task_reaches_sentry_with_its_arguments_scrubbed(sentry_capture, celery_worker):
    result = fail_on_purpose.delay("carol@example.com")
    with pytest.raises(ValueError, match="row 7 rejected"):
        result.get(timeout=20)
    events = wait_for(lambda: sentry_capture("event"), timeout=10, message="an event")
    event = events[0]
    assert event["exception"]["values"][-1]["value"] == "row 7 rejected for [scrubbed]"
    assert "carol" not in str(event["extra"]["celery-job"]["args"])
    assert event["extra"]["celery-job"]["task_name"] == "tests.ops_fail_on_purpose"
    assert "carol@example.com" not in str(events)


def test_log_breadcrumbs_lose_email_addresses(sentry_capture):
    logging.getLogger("batches").warning("rejected row for dave@example.com")
    sentry_sdk.capture_message("import finished with errors")
    [event] = sentry_capture("event")
    crumbs = [crumb["message"] for crumb in event["breadcrumbs"]["values"]]
    assert "rejected row for [scrubbed]" in crumbs


def _periodic(name: str, task: str, **schedule) -> PeriodicTask:
    return PeriodicTask.objects.create(name=name, task=task, **schedule)


def test_beat_scheduled_run_sends_in_progress_then_ok_with_its_schedule(
    sentry_capture, celery_worker, redis_client
):
    every_5_min = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    _periodic("Nightly tick", record_tick.name, interval=every_5_min)
    # What beat sends: django-celery-beat names the periodic task in a header.
    record_tick.apply_async(["k"], headers={"periodic_task_name": "Nightly tick"}).get(timeout=20)
    checkins = wait_for(
        lambda: len(sentry_capture("check_in")) >= 2 and sentry_capture("check_in"),
        timeout=10,
        message="two check-ins",
    )
    started, finished = checkins
    assert started["monitor_slug"] == finished["monitor_slug"] == "nightly-tick"
    assert started["status"] == "in_progress"
    assert finished["status"] == "ok"
    assert finished["check_in_id"] == started["check_in_id"]
    assert started["monitor_config"]["schedule"] == {
        "type": "interval",
        "value": 5,
        "unit": "minute",
    }
    assert started["monitor_config"]["max_runtime"] == 1
    assert started["environment"] == "test-env"


def test_failed_beat_scheduled_run_sends_an_error_check_in(sentry_capture, celery_worker):
    crontab = CrontabSchedule.objects.create(minute="0", hour="18", day_of_week="1-5")
    _periodic("Weekday report", fail_on_purpose.name, crontab=crontab)
    result = fail_on_purpose.apply_async(
        ["x@example.com"], headers={"periodic_task_name": "Weekday report"}
    )
    with pytest.raises(ValueError, match="row 7 rejected"):
        result.get(timeout=20)
    checkins = wait_for(
        lambda: len(sentry_capture("check_in")) >= 2 and sentry_capture("check_in"),
        timeout=10,
        message="two check-ins",
    )
    assert [c["status"] for c in checkins] == ["in_progress", "error"]
    assert checkins[0]["monitor_config"]["schedule"] == {"type": "crontab", "value": "0 18 * * 1-5"}


def test_tasks_not_sent_by_beat_send_no_check_in(sentry_capture, celery_worker):
    record_tick.delay("k").get(timeout=20)
    assert sentry_capture("check_in") == []


@pytest.mark.django_db
def test_run_skipped_by_the_overlap_lock_sends_one_complete_ok_check_in_and_no_in_progress(
    sentry_capture, clean_redis
):
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    _periodic("Locked job", locked_job.name, interval=every_minute)
    beat_headers = {"periodic_task_name": "Locked job", "celery_beat_task": True}
    # No worker: the first run stays queued and holds the lock, as a slow run would.
    first = locked_job.apply_async(headers=beat_headers)
    refused = locked_job.apply_async(headers=beat_headers)
    assert first.id
    assert refused.id is None, "the overlap lock refused the second run"
    [checkin] = sentry_capture("check_in")
    assert checkin["status"] == "ok"
    assert checkin["monitor_slug"] == "locked-job"
    assert checkin["monitor_config"]["schedule"] == {
        "type": "interval",
        "value": 1,
        "unit": "minute",
    }


@pytest.mark.django_db
def test_skip_of_a_run_whose_check_in_is_open_closes_it_instead(sentry_capture, clean_redis):
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    _periodic("Locked job", locked_job.name, interval=every_minute)
    # A worker started the run (in_progress sent), then the lock refused it.
    locked_job.push_request(id="run-1", periodic_task_name="Locked job")
    try:
        crons.on_task_prerun(task_id="run-1", task=locked_job)
    finally:
        locked_job.pop_request()
    crons.on_periodic_run_skipped(
        task_name=locked_job.name, periodic_task_id=None, celery_task_id="run-1", reason="lock"
    )
    checkins = sentry_capture("check_in")
    assert [c["status"] for c in checkins] == ["in_progress", "ok"]
    assert checkins[0]["check_in_id"] == checkins[1]["check_in_id"]


@pytest.mark.django_db
def test_skip_signal_for_a_periodic_task_sends_one_ok_check_in(sentry_capture):
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    periodic = _periodic("Sync stock", record_tick.name, interval=every_minute)
    crons.on_periodic_run_skipped(
        task_name=record_tick.name,
        periodic_task_id=periodic.id,
        celery_task_id="never-sent",
        reason="previous run still holds the lock",
    )
    [checkin] = sentry_capture("check_in")
    assert checkin["status"] == "ok"
    assert checkin["monitor_slug"] == "sync-stock"
    assert checkin["monitor_config"]["schedule"]["value"] == 1
    assert not [c for c in sentry_capture("check_in") if c["status"] == "in_progress"]


@pytest.mark.django_db(transaction=True)
def test_new_and_resolved_alerts_reach_sentry_with_their_level(sentry_capture):
    from ops.services import alert_raise, alert_resolve

    alert_raise(
        kind="queue_no_worker", subject="imports", message="No worker is consuming 'imports'."
    )
    alert_raise(kind="queue_no_worker", subject="imports", message="still none")
    alert_resolve(kind="queue_no_worker", subject="imports")
    events = sentry_capture("event")
    assert [(e["message"], e["level"]) for e in events] == [
        ("[ops] OPEN RED: queue_no_worker imports", "error"),
        ("[ops] RESOLVED: queue_no_worker imports", "info"),
    ]
    assert events[0]["tags"]["ops.alert_kind"] == "queue_no_worker"


def test_errors_beat_only_logs_reach_sentry(sentry_capture):
    logging.getLogger("celery.beat").error(
        "Message Error: Couldn't apply scheduled task nightly: connection to ops@example.com refused"
    )
    [event] = sentry_capture("event")
    assert event["level"] == "error"
    assert event["logger"] == "celery.beat"
    assert "[scrubbed]" in event["logentry"]["message"]
    assert "ops@example.com" not in str(event)


@pytest.mark.parametrize(
    ("fail", "statuses"), [(False, ["in_progress", "ok"]), (True, ["in_progress", "error"])]
)
def test_a_standard_api_tasks_beat_run_sends_its_check_ins_like_a_celery_tasks(
    sentry_capture, celery_worker, fail, statuses
):
    from celery import current_app

    from tests.team.standard_tasks import sync_stock

    every_5_min = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    _periodic("Team stock", sync_stock.module_path, interval=every_5_min)
    # What beat sends for the Django @task: its Celery task, by its import path.
    current_app.tasks[sync_stock.module_path].apply_async(
        ["north"], {"fail": fail}, headers={"periodic_task_name": "Team stock"}
    )
    checkins = wait_for(
        lambda: len(sentry_capture("check_in")) >= 2 and sentry_capture("check_in"),
        timeout=20,
        message="two check-ins",
    )
    assert [checkin["status"] for checkin in checkins] == statuses
    assert {checkin["monitor_slug"] for checkin in checkins} == {"team-stock"}
