"""Alerts: open once per condition, touch, resolve, acknowledge, notify."""

import threading

import pytest
from django.core import mail
from django.db import IntegrityError, connection
from django.utils import timezone

from ops.models import Alert
from ops.services import alert_acknowledge, alert_raise, alert_resolve


@pytest.fixture
def ops_email(settings):
    settings.OPS_ALERT_EMAIL = ["ops@example.com"]


@pytest.mark.django_db(transaction=True)
def test_raising_twice_keeps_one_open_alert_and_updates_last_seen(ops_email):
    first = alert_raise(kind="queue_stalled", subject="imports", message="no heartbeat for 70s")
    second = alert_raise(kind="queue_stalled", subject="imports", message="no heartbeat for 100s")
    assert first.id == second.id
    alert = Alert.objects.get()
    assert alert.status == "open"
    assert alert.message == "no heartbeat for 100s"
    assert alert.last_seen_at > alert.first_seen_at
    assert len(mail.outbox) == 1, "a touched alert is not emailed again"
    assert mail.outbox[0].subject == "[ops] OPEN RED: queue_stalled imports"
    assert mail.outbox[0].to == ["ops@example.com"]


@pytest.mark.django_db(transaction=True)
def test_resolving_emails_ops_and_a_new_occurrence_opens_a_new_alert(ops_email):
    alert_raise(kind="beat_stalled", subject="beat", message="beat silent")
    assert alert_resolve(kind="beat_stalled", subject="beat") is True
    assert alert_resolve(kind="beat_stalled", subject="beat") is False
    alert_raise(kind="beat_stalled", subject="beat", message="beat silent again")
    assert list(Alert.objects.order_by("id").values_list("status", flat=True)) == [
        "resolved",
        "open",
    ]
    assert [m.subject for m in mail.outbox] == [
        "[ops] OPEN RED: beat_stalled beat",
        "[ops] RESOLVED: beat_stalled beat",
        "[ops] OPEN RED: beat_stalled beat",
    ]


@pytest.mark.django_db
def test_database_refuses_a_second_open_alert_for_the_same_condition():
    now = timezone.now()
    fields = {"kind": "k", "subject": "s", "first_seen_at": now, "last_seen_at": now}
    Alert.objects.create(**fields)
    Alert.objects.create(**fields, status="resolved")  # resolved ones may repeat
    with pytest.raises(IntegrityError):
        Alert.objects.create(**fields)


@pytest.mark.django_db(transaction=True)
def test_concurrent_raises_of_one_condition_open_exactly_one_alert():
    barrier = threading.Barrier(8)
    errors = []

    def raise_it():
        try:
            barrier.wait()
            alert_raise(kind="queue_depth", subject="reports", message="deep", severity="amber")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Alert.objects.filter(kind="queue_depth", subject="reports", status="open").count() == 1


@pytest.mark.django_db
def test_acknowledging_records_who_and_when(django_user_model):
    user = django_user_model.objects.create_user("oncall")
    alert = alert_raise(kind="task_failing", subject="reporting.send", message="3 failures")
    assert alert_acknowledge(alert_ids=[alert.id], user_id=user.id) == 1
    assert alert_acknowledge(alert_ids=[alert.id], user_id=user.id) == 0
    alert.refresh_from_db()
    assert alert.acknowledged_by == user
    assert alert.acknowledged_at is not None
