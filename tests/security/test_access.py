"""Who can reach what, through the real admin URLs with the test client.

- Anyone not staff is sent to the admin login page.
- Staff without the import, export, report, schedule or ops permissions get 403 on
  those pages and actions; with only the view permission they can look, not act.
- Every user-supplied string the admin shows is escaped.

Other security guarantees live with their subject and are not repeated here:
Celery refuses pickle (tests/reliability/test_celery_faults.py::
test_a_pickled_message_injected_into_a_queue_is_rejected_and_runs_no_code and
tests/foundation/test_configuration.py::test_celery_accepts_and_sends_json_only),
production settings pass `check --deploy` and demand their secrets
(tests/foundation/test_configuration.py::
test_production_settings_pass_the_deploy_check_and_demand_their_secrets), Sentry
events are scrubbed (tests/ops/test_sentry.py and test_sentry_scrubbing.py here).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from batches.models import ImportJob, ImportRowError
from ops.services import alert_raise
from reporting.models import ReportRun
from reporting.services import report_definition_create
from schedules.models import TaskRun

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def things(db):
    job = ImportJob.objects.create(
        dataset="airports", file="imports/uploads/x/a.csv", original_name=f"{SCRIPT}.csv",
        status=ImportJob.Status.PARTIALLY_FAILED, header=["iata", SCRIPT], rows_rejected=1,
        error=f"column {SCRIPT} failed",
    )  # fmt: skip
    ImportRowError.objects.create(job=job, row_number=2, message=SCRIPT, values=[SCRIPT, "=1+1"])
    definition = report_definition_create(name=f"Sales {SCRIPT}", to_recipients="a@example.com")
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(
        name=f"nightly {SCRIPT}", task="schedules.sleep_probe", interval=every,
        description=SCRIPT,
    )  # fmt: skip
    TaskRun.objects.create(
        task_name="schedules.sleep_probe", status="skipped", error=SCRIPT, queued_at=timezone.now()
    )
    alert = alert_raise(kind="import_failed", subject=f"import {SCRIPT}", message=SCRIPT)
    return {"job": job, "definition": definition, "task": task, "alert": alert}


def _pages(things) -> list[tuple[str, str]]:
    job, definition = things["job"].id, things["definition"].id
    return [
        ("get", "/admin/"),
        ("get", "/admin/batches/importjob/"),
        ("get", "/admin/batches/importjob/upload/"),
        ("get", f"/admin/batches/importjob/{job}/follow/"),
        ("get", f"/admin/batches/importjob/{job}/preview/"),
        ("get", f"/admin/batches/importjob/{job}/progress.json"),
        ("get", f"/admin/batches/importjob/{job}/errors.csv"),
        ("post", f"/admin/batches/importjob/{job}/cancel/"),
        ("post", f"/admin/batches/importjob/{job}/retry/"),
        ("get", "/admin/reporting/reportdefinition/"),
        ("get", f"/admin/reporting/reportdefinition/{definition}/preview/"),
        ("get", "/admin/reporting/reportrun/"),
        ("get", "/admin/django_celery_beat/periodictask/"),
        ("get", "/admin/schedules/taskrun/"),
        ("get", "/admin/ops/alert/"),
        ("get", "/admin/ops/dashboard/"),
    ]


def test_anyone_not_staff_is_sent_to_the_admin_login_for_every_platform_page(
    client, django_user_model, things
):
    client.force_login(django_user_model.objects.create_user("outsider", password="pw"))

    for method, url in _pages(things):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_anonymous_visitors_are_sent_to_the_admin_login_too(client, things):
    for method, url in _pages(things):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


@pytest.fixture
def staff_client(client, django_user_model):
    def login(*perms: str):
        user = django_user_model.objects.create_user(
            f"staff{len(perms)}", password="pw", is_staff=True
        )
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        client.force_login(user)
        return client

    return login


def test_staff_without_permissions_get_403_on_every_import_export_report_schedule_and_ops_page(
    staff_client, things
):
    client = staff_client()
    for method, url in _pages(things)[1:]:  # the admin index itself is open to staff
        response = getattr(client, method)(url)
        assert response.status_code == 403, url
    assert client.get("/admin/").status_code == 200
    things["job"].refresh_from_db()
    assert things["job"].status == ImportJob.Status.PARTIALLY_FAILED  # retry refused


def test_import_viewers_can_follow_and_export_but_not_upload_cancel_or_retry(staff_client, things):
    client = staff_client("batches.view_import", "batches.view_importjob")
    job = things["job"].id

    assert client.get(f"/admin/batches/importjob/{job}/follow/").status_code == 200
    assert client.get(f"/admin/batches/importjob/{job}/errors.csv").status_code == 200
    assert client.get("/admin/batches/importjob/upload/").status_code == 403
    assert client.get(f"/admin/batches/importjob/{job}/preview/").status_code == 403
    assert client.post(f"/admin/batches/importjob/{job}/cancel/").status_code == 403
    assert client.post(f"/admin/batches/importjob/{job}/retry/").status_code == 403
    page = client.get(f"/admin/batches/importjob/{job}/follow/").content.decode()
    assert "Retry failed chunks" not in page


def test_report_viewers_cannot_preview_or_send(staff_client, things):
    client = staff_client("reporting.view_reportdefinition", "reporting.view_reportrun")
    definition = things["definition"]

    assert client.get("/admin/reporting/reportdefinition/").status_code == 200
    assert (
        client.get(f"/admin/reporting/reportdefinition/{definition.id}/preview/").status_code == 403
    )
    client.post(
        "/admin/reporting/reportdefinition/",
        {"action": "send_test_to_me", "_selected_action": [definition.id]},
    )
    assert not ReportRun.objects.exists()


def test_alert_viewers_cannot_acknowledge_and_need_the_dashboard_permission(staff_client, things):
    client = staff_client("ops.view_alert")
    alert = things["alert"]

    assert client.get("/admin/ops/alert/").status_code == 200
    assert client.get("/admin/ops/dashboard/").status_code == 403
    client.post("/admin/ops/alert/", {"action": "acknowledge", "_selected_action": [alert.id]})
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_schedule_viewers_cannot_run_pause_or_release_a_schedule(staff_client, things):
    client = staff_client("django_celery_beat.view_periodictask")
    task = things["task"]

    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    for action in ("run_now", "pause_tasks", "release_lock"):
        client.post(
            "/admin/django_celery_beat/periodictask/",
            {"action": action, "_selected_action": [task.id]},
        )
    task.refresh_from_db()
    assert task.enabled
    assert not TaskRun.objects.filter(status__in=["queued", "started"]).exists()


def test_every_user_supplied_string_is_escaped_wherever_the_admin_shows_it(admin_client, things):
    job, definition, task = things["job"], things["definition"], things["task"]
    pages = [
        "/admin/batches/importjob/",
        f"/admin/batches/importjob/{job.id}/follow/",
        "/admin/batches/importrowerror/",
        "/admin/reporting/reportdefinition/",
        f"/admin/reporting/reportdefinition/{definition.id}/change/",
        "/admin/django_celery_beat/periodictask/",
        f"/admin/django_celery_beat/periodictask/{task.id}/change/",
        "/admin/schedules/taskrun/",
        "/admin/ops/alert/",
        f"/admin/ops/alert/{things['alert'].id}/change/",
        "/admin/ops/dashboard/",
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert SCRIPT not in html, url
    assert "&lt;script&gt;" in admin_client.get("/admin/ops/alert/").content.decode()
    errors = admin_client.get(f"/admin/batches/importjob/{job.id}/errors.csv")
    body = b"".join(errors.streaming_content).decode()
    assert "'=1+1" in body  # the export escapes formulas
