"""/metrics: Prometheus text format, read back with prometheus_client's own parser."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from batches.models import ImportJob
from ops import recovery, state
from ops.services import alert_raise, heartbeat_record
from schedules.models import TaskRun

TOKEN = "s3cret-metrics"


def _samples(body: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} for every sample in the exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


@pytest.fixture
def metrics_token(settings):
    settings.OPS_METRICS_TOKEN = TOKEN
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.django_db
def test_anonymous_and_unpermitted_requests_are_refused(client, metrics_token, django_user_model):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    staff = django_user_model.objects.create_user("someone", is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_no_token_setting_means_no_token_opens_it(client, settings):
    settings.OPS_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.django_db
def test_metrics_parse_and_carry_queues_beat_alerts_runs_and_import_rows(
    client, metrics_token, clean_redis, django_assert_max_num_queries
):
    now = state.now_ts()
    state.client().set(state.BEAT_TICK, now - 4)
    heartbeat_record(queue="imports", celery_task_id="hb-1", sent_at_ts=now - 12.5,
                     started_at_ts=now - 10, worker="w@host")  # fmt: skip
    clean_redis.rpush("reports", "m1", "m2", "m3")
    recovery._instance.clear()
    recovery.worker_instance_start(hostname="w1@host", queues=["imports", "reports"])
    recovery._instance.clear()  # this test process is not a worker
    alert_raise(kind="queue_stalled", subject="reports", message="x")
    alert_raise(kind="import_stalled", subject="import #1", message="x", severity="amber")
    alert_raise(kind="import_stalled", subject="import #2", message="x", severity="amber")
    at = timezone.now()
    for n, (task, status) in enumerate(
        [("reporting.send_due", "failed"), ("reporting.send_due", "succeeded"),
         ("reporting.send_due", "succeeded"), ("batches.scan_inbox", "succeeded")]
    ):  # fmt: skip
        TaskRun.objects.create(task_name=task, status=status, queued_at=at, celery_task_id=f"r{n}")
    for dataset, new, rejected in [
        ("products", 10, 2),
        ("products", 5, 0),
        ("team_stations", 7, 1),
    ]:
        ImportJob.objects.create(dataset=dataset, status="succeeded", rows_new=new,
                                 rows_rejected=rejected)  # fmt: skip

    # alerts, periodic runs, import rows, report runs, and the session
    with django_assert_max_num_queries(5):
        response = client.get("/metrics", headers=metrics_token)
    read_by = state.now_ts()  # the ages were computed between `now` and this
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = _samples(response.content.decode())

    def value(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("celery_queue_length", queue_name="reports") == 3
    assert value("celery_queue_length", queue_name="imports") == 0
    assert value("celery_active_worker_count", queue_name="imports") == 1
    assert value("celery_active_worker_count", queue_name="ops") == 0
    assert value("celery_worker_up", hostname="w1@host") == 1
    assert value("batch_platform_queue_latency_seconds", queue_name="imports") == pytest.approx(2.5)
    # An age is (the clock when /metrics read it) - (the timestamp stored above), so it
    # lies between what it was at `now` and what it was at `read_by` (0.01 s for rounding).
    heartbeat_age = value("batch_platform_queue_heartbeat_age_seconds", queue_name="imports")
    assert heartbeat_age == pytest.approx(10 + (read_by - now) / 2, abs=(read_by - now) / 2 + 0.01)
    tick_age = value("batch_platform_beat_tick_age_seconds")
    assert tick_age == pytest.approx(4 + (read_by - now) / 2, abs=(read_by - now) / 2 + 0.01)
    assert value("batch_platform_alerts_open", kind="queue_stalled", severity="red") == 1
    assert value("batch_platform_alerts_open", kind="import_stalled", severity="amber") == 2
    assert value("batch_platform_alerts_open", kind="import_failed", severity="red") == 0
    assert value("batch_platform_periodic_task_runs_24h",
                 task_name="reporting.send_due", status="succeeded") == 2  # fmt: skip
    assert value("batch_platform_periodic_task_runs_24h",
                 task_name="reporting.send_due", status="failed") == 1  # fmt: skip
    assert value("batch_platform_import_rows_total", dataset="products", outcome="new") == 15
    assert value("batch_platform_import_rows_total", dataset="products", outcome="rejected") == 2
    assert value("batch_platform_import_rows_total", dataset="team_stations", outcome="new") == 7
    assert value("batch_platform_dead_worker_messages_resent_total") == 0
    assert value("batch_platform_report_runs", status="failed") == 0
    for collector in ("queues", "alerts", "periodic", "imports", "reports"):
        assert value("batch_platform_metrics_collector_up", collector=collector) == 1


@pytest.mark.django_db
def test_queries_stay_the_same_however_many_rows(client, metrics_token, clean_redis,
                                                 django_assert_max_num_queries):  # fmt: skip
    for n in range(40):
        alert_raise(kind="queue_depth", subject=f"q{n}", message="x", severity="amber")
        ImportJob.objects.create(dataset=f"set{n}", status="succeeded", rows_new=n)
        TaskRun.objects.create(task_name=f"t{n}", status="succeeded", queued_at=timezone.now(),
                               celery_task_id=f"many{n}")  # fmt: skip
    with django_assert_max_num_queries(4):  # one per collector that reads the database
        assert client.get("/metrics", headers=metrics_token).status_code == 200


def test_a_part_that_cannot_be_read_says_so_and_the_rest_still_shows(
    client, metrics_token, settings, db
):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # the queue part reads Redis
    state._clients.clear()
    try:
        response = client.get("/metrics", headers=metrics_token)
    finally:
        state._clients.clear()
    samples = _samples(response.content.decode())
    assert samples[("batch_platform_metrics_collector_up", (("collector", "queues"),))] == 0
    assert samples[("batch_platform_metrics_collector_up", (("collector", "alerts"),))] == 1
