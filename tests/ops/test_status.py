"""Status evaluation, health endpoints and ops_status, against real Redis and workers."""

import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from batches.models import ImportJob
from ops import state
from ops.conditions import platform_status, queue_thresholds
from ops.models import Alert, QueueSample
from ops.probes import readings
from ops.services import heartbeat_record, ops_checks_run

from .live_state import register_workers


def _fresh_heartbeats(queues=("default", "imports", "reports", "ops"), latency=0.05):
    now = state.now_ts()
    state.client().set(state.BEAT_TICK, now)
    for n, queue in enumerate(queues):
        heartbeat_record(
            queue=queue,
            celery_task_id=f"hb-{queue}-{n}-{now}",
            sent_at_ts=now - latency,
            started_at_ts=now,
            worker="w@test",
        )


def test_depth_counts_the_priority_sub_lists_kombu_keeps(clean_redis, settings):
    clean_redis.rpush("imports", "a", "b")
    clean_redis.rpush("imports\x06\x166", "c")
    clean_redis.rpush("reports\x06\x169", "d")
    assert readings(queues=["imports", "reports", "ops"]).depths == {
        "imports": 3,
        "reports": 1,
        "ops": 0,
    }


def test_per_queue_thresholds_override_the_platform_ones(settings):
    settings.OPS_THRESHOLDS = {"heartbeat_stale": 60, "latency_amber": 10, "depth_amber": 1000}
    settings.OPS_QUEUE_THRESHOLDS = {"imports": {"depth_amber": 50000}}
    assert queue_thresholds(queue="imports")["depth_amber"] == 50000
    assert queue_thresholds(queue="imports")["latency_amber"] == 10
    assert queue_thresholds(queue="reports")["depth_amber"] == 1000


@pytest.mark.django_db
def test_deep_queue_turns_amber_and_opens_a_depth_alert(clean_redis, settings):
    settings.OPS_QUEUE_THRESHOLDS = {"reports": {"depth_amber": 5}}
    _fresh_heartbeats()
    clean_redis.rpush("reports", *[f"m{n}" for n in range(6)])
    status = ops_checks_run(status=platform_status(read_workers=False))
    reports = next(q for q in status.queues if q.name == "reports")
    assert reports.state == "amber"
    assert reports.depth == 6
    alert = Alert.objects.get(kind="queue_depth", subject="reports", status="open")
    assert alert.severity == "amber"
    assert "6 messages waiting (threshold 5)" in alert.message
    assert QueueSample.objects.filter(queue="reports", depth=6).exists()

    clean_redis.delete("reports")
    ops_checks_run(status=platform_status(read_workers=False))
    alert.refresh_from_db()
    assert alert.status == "resolved"


@pytest.mark.django_db
def test_slow_heartbeat_opens_a_latency_alert(clean_redis, settings):
    settings.OPS_THRESHOLDS = {**settings.OPS_THRESHOLDS, "latency_amber": 5}
    _fresh_heartbeats(latency=7.5)
    ops_checks_run(status=platform_status(read_workers=False))
    alert = Alert.objects.get(kind="queue_latency", subject="ops", status="open")
    assert "heartbeat waited 7.5s (threshold 5s)" in alert.message


@pytest.mark.django_db
def test_import_running_without_progress_opens_an_import_alert(clean_redis, settings):
    settings.OPS_IMPORT_STALL_AFTER = 600
    _fresh_heartbeats()
    now = timezone.now()
    stuck = ImportJob.objects.create(
        dataset="products",
        status="running",
        started_at=now - timezone.timedelta(hours=1),
        last_progress_at=now - timezone.timedelta(minutes=20),
    )
    ImportJob.objects.create(
        dataset="products", status="running", started_at=now, last_progress_at=now
    )
    ops_checks_run(status=platform_status(read_workers=False))
    alert = Alert.objects.get(kind="import_stalled", status="open")
    assert alert.subject == f"import #{stuck.id}"
    assert "no progress for 20 min" in alert.message

    ImportJob.objects.filter(id=stuck.id).update(status="failed")
    ops_checks_run(status=platform_status(read_workers=False))
    assert not Alert.objects.filter(kind="import_stalled", status="open").exists()


def test_liveness_answers_without_checking_anything(client):
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_tells_the_public_only_the_status_and_the_names_of_failed_checks(
    client, clean_redis
):
    response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json() == {"status": "fail", "failed": ["heartbeats"]}


@pytest.mark.django_db
def test_readiness_details_with_the_health_token_name_stale_heartbeats(
    client, clean_redis, settings
):
    settings.OPS_HEALTH_TOKEN = "s3cret-health"
    response = client.get("/health/ready/", headers={"Authorization": "Bearer s3cret-health"})
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["heartbeats"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["broker"] == {"ok": True}
    assert body["checks"]["heartbeats"]["stale_queues"] == ["default", "imports", "reports", "ops"]
    assert body["checks"]["heartbeats"]["beat"] == "beat has not ticked"
    wrong = client.get("/health/ready/", headers={"Authorization": "Bearer guess"})
    assert "checks" not in wrong.json()


@pytest.mark.django_db
def test_readiness_details_for_staff_allowed_the_dashboard(client, clean_redis, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("oncall", is_staff=True)
    client.force_login(user)
    assert "checks" not in client.get("/health/ready/").json()
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    assert client.get("/health/ready/").json()["checks"]["database"] == {"ok": True}


@pytest.mark.django_db
def test_readiness_is_ok_when_everything_answers_and_heartbeats_are_fresh(client, clean_redis):
    _fresh_heartbeats()
    response = client.get("/health/ready/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"
    assert clean_redis.keys("ops.health.*") == [], "the round-trip queue is removed"


@pytest.mark.django_db
def test_readiness_names_the_broker_when_it_is_unreachable_without_exception_text(
    client, clean_redis, settings
):
    settings.OPS_HEALTH_TOKEN = "s3cret-health"
    _fresh_heartbeats()
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    public = client.get("/health/ready/")
    response = client.get("/health/ready/", headers={"Authorization": "Bearer s3cret-health"})
    assert public.status_code == 503
    # REDIS_URL is another server now: it still answers; the heartbeats are not read.
    assert public.json() == {"status": "fail", "failed": ["broker", "heartbeats"]}
    assert response.json()["failed"] == ["broker", "heartbeats"]
    error = response.json()["checks"]["broker"]["error"]
    assert "Error" in error
    assert "127.0.0.1" not in error, "no exception text"
    assert "refused" not in error


@pytest.mark.django_db
def test_readiness_declares_no_queue_per_request(client, clean_redis):
    _fresh_heartbeats()
    before = set(clean_redis.keys("_kombu.binding.*"))
    for _ in range(3):
        assert client.get("/health/ready/").status_code == 200
    assert set(clean_redis.keys("_kombu.binding.*")) == before


@pytest.mark.django_db
def test_ops_status_prints_the_table_and_exits_1_when_a_queue_has_no_worker(
    clean_redis, capsys, settings
):
    _fresh_heartbeats()
    with pytest.raises(SystemExit) as exit_info:
        call_command("ops_status")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "ops status at" in out
    assert "imports    RED" in out
    assert "no worker consumes this queue" in out
    assert "beat: OK" in out


@pytest.mark.django_db
def test_ops_status_exits_0_when_all_queues_are_green(clean_redis, settings, capsys):
    _fresh_heartbeats()
    register_workers(1, queues=settings.PLATFORM_QUEUES)
    call_command("ops_status", "--record")
    out = capsys.readouterr().out
    assert ": GREEN" in out, out
    assert "workers alive: 1" in out
    assert "w0@host: default, imports, ops, reports" in out
    assert not Alert.objects.filter(status="open").exists()
    assert json.loads(state.client().get(state.heartbeat_last_key("ops")))["worker"] == "w@test"


def _heartbeat_at(queue, started_ts):
    state.client().set(
        state.heartbeat_last_key(queue),
        json.dumps({"started_at": started_ts, "latency": 0.01, "worker": "w@test"}),
    )


@pytest.mark.django_db
def test_queue_behind_a_ticking_beat_is_stalled(clean_redis, settings):
    settings.OPS_THRESHOLDS = {**settings.OPS_THRESHOLDS, "heartbeat_stale": 60}
    now = state.now_ts()
    _fresh_heartbeats()
    _heartbeat_at("reports", now - 75)
    ops_checks_run(status=platform_status(read_workers=False))
    alert = Alert.objects.get(kind="queue_stalled", status="open")
    assert alert.subject == "reports"
    assert "no heartbeat started for 75s while beat kept sending (threshold 60s)" in alert.message


@pytest.mark.django_db
def test_stopped_beat_is_one_alert_not_one_per_queue(clean_redis, settings):
    settings.OPS_THRESHOLDS = {**settings.OPS_THRESHOLDS, "heartbeat_stale": 60}
    settings.OPS_BEAT_STALE_AFTER = 90
    now = state.now_ts()
    state.client().set(state.BEAT_TICK, now - 100)
    for queue in settings.PLATFORM_QUEUES:
        _heartbeat_at(queue, now - 99.5)
    status = ops_checks_run(status=platform_status(read_workers=False))
    assert list(Alert.objects.filter(status="open").values_list("kind", "subject")) == [
        ("beat_stalled", "beat")
    ]
    assert "Beat last ticked 100s ago (threshold 90s)" in Alert.objects.get().message
    assert {queue.state for queue in status.queues} == {"green"}
