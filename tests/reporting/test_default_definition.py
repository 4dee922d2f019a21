"""Ready after `make run`: the platform report's definition exists, is never overwritten,
and can be previewed and test-sent at once."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from reporting.models import PLATFORM_KIND, ReportDefinition, ReportRun
from reporting.services import report_definition_save, report_run_deliver

pytestmark = pytest.mark.django_db


def make_run_setup(capsys) -> str:
    """What `make run` does for reports: the demo admin, then the default definition."""
    call_command("ensure_demo_admin")
    call_command("ensure_default_reports")
    return capsys.readouterr().out


def test_make_run_creates_the_platform_report_for_the_demo_admin(capsys, settings):
    out = make_run_setup(capsys)
    definition = ReportDefinition.objects.get()
    assert "Created report definition 'Platform end of day'" in out
    assert (definition.kind, definition.enabled, definition.to_recipients) == (
        PLATFORM_KIND, True, "admin@example.com",
    )  # fmt: skip
    assert (definition.send_hour, definition.send_minute) == (18, 0)
    assert definition.business_weekdays == "1,2,3,4,5"
    assert definition.timezone == settings.TIME_ZONE
    task = PeriodicTask.objects.get(pk=definition.periodic_task_id)
    assert task.enabled
    assert (task.crontab.hour, task.crontab.day_of_week) == ("18", "1,2,3,4,5")


def test_a_second_make_run_leaves_an_edited_definition_alone(capsys):
    make_run_setup(capsys)
    definition = ReportDefinition.objects.get()
    definition.name, definition.send_hour, definition.enabled = "Ops evening", 19, False
    definition.to_recipients = "oncall@example.com"
    report_definition_save(definition=definition)

    out = make_run_setup(capsys)

    assert "Keeping report definition 'Ops evening'" in out
    assert list(ReportDefinition.objects.values_list("name", "send_hour", "enabled", "to_recipients")) == [
        ("Ops evening", 19, False, "oncall@example.com"),
    ]  # fmt: skip


def test_without_a_demo_admin_nothing_is_created(capsys):
    call_command("ensure_default_reports")
    assert "No report definition created" in capsys.readouterr().out
    assert not ReportDefinition.objects.exists()


def test_the_new_user_sees_it_with_its_next_five_sends_and_can_preview_and_test_it(client, capsys):
    make_run_setup(capsys)
    definition = ReportDefinition.objects.get()
    client.force_login(get_user_model().objects.get(username="admin"))

    changelist = client.get(reverse("admin:reporting_reportdefinition_changelist"))
    rows = re.findall(r"<tr.*?</tr>", changelist.content.decode(), re.S)
    row = next(row for row in rows if "Platform end of day" in row)
    assert row.count("<li ") == 5
    assert "18:00" in row

    preview = client.get(reverse("admin:reporting_reportdefinition_preview", args=[definition.pk]))
    assert preview.status_code == 200
    assert "Platform end of day — " in preview.content.decode()

    change = client.get(reverse("admin:reporting_reportdefinition_change", args=[definition.pk]))
    assert "Send a test to me" in change.content.decode()
    response = client.post(
        reverse("admin:reporting_reportdefinition_send_test", args=[definition.pk]), follow=True
    )
    assert "queued to admin@example.com" in response.content.decode()
    run = ReportRun.objects.get()
    assert (run.kind, run.to_recipients) == ("test", "admin@example.com")
    assert report_run_deliver(run_id=run.pk) == ReportRun.Status.SENT


def test_the_send_test_button_needs_the_permission_and_a_post(client, django_user_model, capsys):
    make_run_setup(capsys)
    definition = ReportDefinition.objects.get()
    url = reverse("admin:reporting_reportdefinition_send_test", args=[definition.pk])
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.post(url).status_code == 403
    client.force_login(get_user_model().objects.get(username="admin"))
    assert client.get(url).status_code == 403
    assert not ReportRun.objects.exists()
