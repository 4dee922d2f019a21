"""Set-up pieces a new user relies on: health endpoints, the demo admin, defaults as code.

The demo data command is tested with the sample domain (tests/catalogue/test_demo_data.py).
"""

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from schedules.services.default_schedules import default_schedules_sync

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_touching_dependencies(client):
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_reports_database_and_broker(client, settings):
    # Heartbeat freshness is also checked (tests/ops); with no worker here it may be 503.
    # The details are for staff or the health token (issue 15): the public gets the status.
    settings.OPS_HEALTH_TOKEN = "t0ken"
    body = client.get("/health/ready/", headers={"Authorization": "Bearer t0ken"}).json()
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["broker"]["ok"]


def test_demo_admin_is_created_once_and_reused(capsys):
    call_command("ensure_demo_admin")
    call_command("ensure_demo_admin")
    out = capsys.readouterr().out
    assert "Created demo admin. Log in as admin / admin" in out
    assert "Reusing demo admin" in out


def test_default_schedules_sync_keeps_admin_changes_and_is_idempotent():
    entries = [{"name": "platform: sample", "task": "ops.ping", "interval": 30}]
    assert default_schedules_sync(entries=entries)["created"] == 1
    task = PeriodicTask.objects.get(name="platform: sample")
    task.enabled = False
    task.save()
    assert default_schedules_sync(entries=entries) == {"created": 0, "updated": 0, "unchanged": 1}
    entries[0]["interval"] = 60
    assert default_schedules_sync(entries=entries)["updated"] == 1
    task.refresh_from_db()
    assert task.enabled is False
    assert task.interval.every == 60
