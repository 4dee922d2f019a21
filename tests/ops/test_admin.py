"""The ops dashboard and alert admin as staff see them."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from ops.models import Alert, Heartbeat, QueueSample
from ops.services import alert_raise
from schedules.models import TaskRun


@pytest.fixture
def ops_user(django_user_model):
    user = django_user_model.objects.create_user("oncall", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="ops",
            codename__in=["view_dashboard", "view_alert", "acknowledge_alert"],
        )
    )
    return user


@pytest.fixture
def history():
    now = timezone.now()
    for minutes in range(0, 24 * 60, 30):
        at = now - timezone.timedelta(minutes=minutes)
        for queue in ("default", "imports", "reports", "ops"):
            Heartbeat.objects.create(
                queue=queue, celery_task_id=f"{queue}-{minutes}", sent_at=at,
                started_at=at, latency=0.01 * (minutes % 7), worker="w@host",
            )  # fmt: skip
            QueueSample.objects.create(queue=queue, sampled_at=at, depth=minutes % 11)


@pytest.mark.django_db
def test_dashboard_shows_queue_states_as_text_charts_alerts_and_failed_runs(
    client, ops_user, history, clean_redis, settings, django_assert_max_num_queries
):
    alert_raise(
        kind="queue_no_worker",
        subject="workers",
        message="No worker consumes 1 of 4 queues: imports",
    )
    TaskRun.objects.create(task_name="reporting.send_due", status="failed", queued_at=timezone.now(),
                           error="SMTPException: refused")  # fmt: skip
    client.force_login(ops_user)
    with django_assert_max_num_queries(15):
        response = client.get("/admin/ops/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ops dashboard" in html
    assert 'class="ops-state ops-red">RED</span>' in html
    assert "no worker consumes this queue" in html
    assert html.count('class="ops-chart"') == 8, "a latency and a depth chart per queue"
    assert "latency: highest" in html
    assert "No worker consumes 1 of 4 queues: imports" in html
    assert "Queues without a worker <code>queue_no_worker</code>" in html
    assert "SMTPException: refused" in html
    assert "cdn" not in html.lower()


@pytest.mark.django_db
def test_dashboard_is_linked_from_the_admin_index_for_those_allowed(client, ops_user):
    client.force_login(ops_user)
    assert "/admin/ops/dashboard/" in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_staff_without_the_dashboard_permission_are_refused(client, django_user_model):
    user = django_user_model.objects.create_user("someone", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/ops/dashboard/").status_code == 403
    assert "/admin/ops/dashboard/" not in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_acknowledge_action_records_who_and_when(client, ops_user):
    alert = alert_raise(kind="beat_stalled", subject="beat", message="Beat last ticked 95s ago")
    client.force_login(ops_user)
    response = client.post(
        "/admin/ops/alert/",
        {"action": "acknowledge", "_selected_action": [alert.id]},
        follow=True,
    )
    assert "1 alert(s) acknowledged by oncall." in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_by == ops_user
    assert alert.acknowledged_at is not None


@pytest.mark.django_db
def test_acknowledge_action_needs_its_permission(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_alert"))
    alert_raise(kind="beat_stalled", subject="beat", message="x")
    client.force_login(viewer)
    html = client.get("/admin/ops/alert/").content.decode()
    assert "Acknowledge selected open alerts" not in html


@pytest.mark.django_db
def test_alert_list_filters_and_does_not_query_per_row(
    client, ops_user, django_user_model, django_assert_max_num_queries
):
    other = django_user_model.objects.create_user("other")
    for n in range(30):
        alert = alert_raise(kind="queue_depth", subject=f"q{n}", message="deep", severity="amber")
        Alert.objects.filter(id=alert.id).update(
            acknowledged_by=other, acknowledged_at=timezone.now()
        )
    client.force_login(ops_user)
    with django_assert_max_num_queries(12):
        response = client.get("/admin/ops/alert/?status__exact=open&acknowledged=yes")
    assert response.status_code == 200
    assert response.content.decode().count("AMBER") >= 30
    assert response.content.decode().count("Queue backlog <code>queue_depth</code>") == 30


def test_alert_kinds_read_as_words_and_unknown_kinds_still_read():
    from ops.models import kind_label

    assert kind_label("import_failed") == "Import failed"
    assert kind_label("warehouse_sync_late") == "Warehouse sync late"
