"""Definitions in the admin: validation, their beat entry, preview, test send and resend."""

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from reporting.models import ReportDefinition, ReportRun
from reporting.services import report_scheduled_run_get_or_create
from tests.reporting.conftest import FRIDAY


@pytest.fixture
def admin_client_with_email(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        "boss", email="boss@example.com", password="pw"
    )
    client.force_login(user)
    return client


@pytest.fixture
def staff_without_send(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_reportdefinition", "view_reportrun"])
    )
    client.force_login(user)
    return client


def form_data(**overrides):
    data = {
        "name": "Daily sales", "kind": "end_of_day", "enabled": "on",
        "to_recipients": "ceo@example.com\nops@example.com", "cc_recipients": "",
        "send_hour": "18", "send_minute": "0", "business_weekdays": ["1", "2", "3", "4", "5"],
        "timezone": "Europe/Berlin", "holiday_country": "DE", "holiday_subdivision": "",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_saving_a_definition_in_the_admin_creates_its_beat_entry(admin_client_with_email):
    response = admin_client_with_email.post(
        reverse("admin:reporting_reportdefinition_add"), form_data()
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    definition = ReportDefinition.objects.get()
    assert definition.to_recipients == "ceo@example.com, ops@example.com"
    task = PeriodicTask.objects.get(pk=definition.periodic_task_id)
    assert task.task == "reporting.send_scheduled_report"
    assert json.loads(task.kwargs) == {"definition_id": definition.pk}
    assert task.queue == "reports"
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == (
        "0",
        "18",
        "1,2,3,4,5",
    )
    assert str(task.crontab.timezone) == "Europe/Berlin"


def test_bad_recipients_are_rejected_naming_the_bad_address(admin_client_with_email):
    response = admin_client_with_email.post(
        reverse("admin:reporting_reportdefinition_add"),
        form_data(to_recipients="ceo@example.com, not-an-address", cc_recipients="x@@y"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Not a valid email address: &#x27;not-an-address&#x27;" in page
    assert "Not a valid email address: &#x27;x@@y&#x27;" in page
    assert not ReportDefinition.objects.exists()


def test_an_unknown_holiday_subdivision_is_rejected(admin_client_with_email):
    response = admin_client_with_email.post(
        reverse("admin:reporting_reportdefinition_add"), form_data(holiday_subdivision="ZZ")
    )
    assert response.status_code == 200
    assert "ZZ" in response.content.decode()
    assert not ReportDefinition.objects.exists()


def test_editing_disabling_and_deleting_follow_through_to_beat(make_definition):
    from reporting.services import report_definition_save

    definition = make_definition()
    task_id = definition.periodic_task_id
    definition.send_hour, definition.timezone = 7, "America/New_York"
    report_definition_save(definition=definition)
    task = PeriodicTask.objects.get(pk=task_id)
    assert (task.crontab.hour, str(task.crontab.timezone)) == ("7", "America/New_York")

    definition.enabled = False
    report_definition_save(definition=definition)
    assert not PeriodicTask.objects.get(pk=task_id).enabled

    definition.delete()
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_a_definition_that_has_sent_cannot_be_deleted_and_keeps_its_history(
    admin_client_with_email, make_definition
):
    definition = make_definition()
    report_scheduled_run_get_or_create(definition=definition, business_date=FRIDAY)
    delete_url = reverse("admin:reporting_reportdefinition_delete", args=[definition.pk])

    page = admin_client_with_email.get(delete_url).content.decode()
    admin_client_with_email.post(delete_url, {"post": "yes"})

    assert "would require deleting the following protected related objects" in page
    assert ReportDefinition.objects.filter(pk=definition.pk).exists()
    assert ReportRun.objects.filter(definition=definition).count() == 1
    assert PeriodicTask.objects.filter(pk=definition.periodic_task_id).exists()


def test_a_definition_that_never_sent_can_be_deleted_with_its_beat_entry(
    admin_client_with_email, make_definition
):
    definition = make_definition()
    delete_url = reverse("admin:reporting_reportdefinition_delete", args=[definition.pk])

    response = admin_client_with_email.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert not ReportDefinition.objects.filter(pk=definition.pk).exists()
    assert not PeriodicTask.objects.filter(pk=definition.periodic_task_id).exists()


def test_change_page_shows_the_schedule_in_words_and_the_next_five_sends(
    admin_client_with_email, make_definition
):
    definition = make_definition(holiday_country="DE")
    page = admin_client_with_email.get(
        reverse("admin:reporting_reportdefinition_change", args=[definition.pk])
    ).content.decode()
    assert "18:00 Europe/Berlin, Monday to Friday, skipping public holidays in DE" in page
    assert page.count("<li>") >= 5
    assert "(for " in page


def test_preview_renders_html_text_and_attachment_rows_for_any_date(
    admin_client_with_email, sales, make_definition
):
    definition = make_definition()
    url = reverse("admin:reporting_reportdefinition_preview", args=[definition.pk])
    response = admin_client_with_email.get(url, {"date": "2026-11-20"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Preview: Daily sales — 2026-11-20" in page
    assert "Revenue: 115.99" in page  # text body
    # The HTML body, whole and escaped into a sandboxed iframe's srcdoc.
    assert '<iframe sandbox="" srcdoc="&lt;!doctype html&gt;' in page
    assert "&lt;td&gt;Bakery&lt;/td&gt;" in page
    assert "<td>SKU-1</td><td>Sourdough</td>" in page  # attachment rows
    assert "daily-sales-2026-11-20.csv (4 rows)" in page


def test_preview_send_test_and_resend_need_the_send_report_permission(
    staff_without_send, make_definition
):
    definition = make_definition()
    url = reverse("admin:reporting_reportdefinition_preview", args=[definition.pk])
    assert staff_without_send.get(url).status_code == 403
    changelist = staff_without_send.get(reverse("admin:reporting_reportdefinition_changelist"))
    assert "send_test_to_me" not in changelist.content.decode()
    runs = staff_without_send.get(reverse("admin:reporting_reportrun_changelist"))
    assert runs.status_code == 200
    assert 'value="resend"' not in runs.content.decode()


def test_anonymous_users_are_sent_to_the_login_page(client, make_definition):
    url = reverse("admin:reporting_reportdefinition_preview", args=[make_definition().pk])
    assert client.get(url).status_code == 302


def test_send_test_to_me_action_records_a_test_run_to_my_address(
    admin_client_with_email, make_definition, django_capture_on_commit_callbacks
):
    definition = make_definition()
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client_with_email.post(
            reverse("admin:reporting_reportdefinition_changelist"),
            {"action": "send_test_to_me", "_selected_action": [definition.pk]},
            follow=True,
        )
    assert "queued to boss@example.com" in response.content.decode()
    run = ReportRun.objects.get()
    assert (run.kind, run.to_recipients, run.requested_by.username) == (
        "test",
        "boss@example.com",
        "boss",
    )
    assert len(callbacks) == 1


def test_send_test_to_me_without_an_email_address_says_so(
    client, django_user_model, make_definition
):
    user = django_user_model.objects.create_superuser("noemail", email="", password="pw")
    client.force_login(user)
    definition = make_definition()
    response = client.post(
        reverse("admin:reporting_reportdefinition_changelist"),
        {"action": "send_test_to_me", "_selected_action": [definition.pk]},
        follow=True,
    )
    assert "has no email address" in response.content.decode()
    assert not ReportRun.objects.exists()


def test_resend_action_records_a_resend_run_next_to_the_scheduled_one(
    admin_client_with_email, make_definition
):
    definition = make_definition()
    scheduled, _ = report_scheduled_run_get_or_create(definition=definition, business_date=FRIDAY)
    ReportRun.objects.filter(pk=scheduled.pk).update(status="sent")
    admin_client_with_email.post(
        reverse("admin:reporting_reportrun_changelist"),
        {"action": "resend", "_selected_action": [scheduled.pk]},
    )
    assert sorted(ReportRun.objects.values_list("kind", "business_date")) == [
        ("resend", FRIDAY), ("scheduled", FRIDAY),
    ]  # fmt: skip


def test_report_runs_list_has_no_n_plus_one(
    admin_client_with_email, make_definition, django_assert_max_num_queries
):
    for number in range(3):
        definition = make_definition(name=f"Report {number}")
        for day in range(10):
            report_scheduled_run_get_or_create(
                definition=definition, business_date=FRIDAY - dt.timedelta(days=day)
            )
    with django_assert_max_num_queries(12):
        response = admin_client_with_email.get(reverse("admin:reporting_reportrun_changelist"))
    assert response.status_code == 200
    assert "30 report runs" in response.content.decode()


def test_an_identical_crontab_row_made_elsewhere_is_reused(make_definition):
    from django_celery_beat.models import CrontabSchedule

    for _ in range(2):  # e.g. created by hand in the beat admin
        CrontabSchedule.objects.create(
            minute="0", hour="18", day_of_week="1,2,3,4,5", timezone="Europe/Berlin"
        )
    definition = make_definition()
    assert definition.periodic_task.crontab_id == CrontabSchedule.objects.order_by("pk")[0].pk
