"""Alert policy: repeats fold into one alert, every kind resolves itself when its condition
clears, people resolve by hand with a note, and the overall state counts open alerts."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from batches.models import ImportChunk, ImportJob
from ops import state
from ops.conditions import platform_status
from ops.models import Alert
from ops.services import alert_raise, alerts_resolve_by_hand, heartbeat_record, ops_checks_run

from .live_state import register_workers


def _check(**kwargs):
    return ops_checks_run(status=platform_status(read_workers=kwargs.get("workers", False)))


def _fresh_heartbeats(latency=0.05):
    now = state.now_ts()
    state.client().set(state.BEAT_TICK, now)
    for queue in ("default", "imports", "reports", "ops"):
        heartbeat_record(queue=queue, celery_task_id=f"hb-{queue}-{now}", sent_at_ts=now - latency,
                         started_at_ts=now, worker="w@test")  # fmt: skip


def _open(kind, subject=None):
    alerts = Alert.objects.filter(kind=kind, status="open")
    return alerts.filter(subject=subject) if subject else alerts


# --- repeats fold ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_repeats_fold_into_one_open_alert_with_a_count_and_last_seen(settings):
    settings.OPS_ALERT_EMAIL = ["ops@example.com"]
    for _ in range(3):
        alert = alert_raise(kind="inbox_file_failed", subject="imports/inbox/a.csv", message="x")
    alert.refresh_from_db()
    assert alert.occurrences == 3
    assert alert.last_seen_at > alert.first_seen_at
    assert len(mail.outbox) == 1, "one email for the condition, not one per repeat"


@pytest.mark.django_db
def test_a_standing_condition_seen_by_every_check_is_not_counted_as_a_repeat(clean_redis, settings):
    settings.OPS_QUEUE_THRESHOLDS = {"reports": {"depth_amber": 1}}
    _fresh_heartbeats()
    clean_redis.rpush("reports", "a", "b")
    for _ in range(3):
        _check()
    assert _open("queue_depth", "reports").get().occurrences == 1


# --- each kind resolves by its condition -------------------------------------------------


@pytest.mark.django_db
def test_queue_latency_resolves_when_heartbeats_are_quick_again(clean_redis, settings):
    settings.OPS_THRESHOLDS = {**settings.OPS_THRESHOLDS, "latency_amber": 5}
    _fresh_heartbeats(latency=8)
    _check()
    assert _open("queue_latency", "reports").exists()
    _fresh_heartbeats(latency=0.1)
    _check()
    assert not _open("queue_latency").exists()


@pytest.mark.django_db
def test_queue_stalled_resolves_when_the_queue_starts_a_heartbeat_again(clean_redis, settings):
    settings.OPS_THRESHOLDS = {**settings.OPS_THRESHOLDS, "heartbeat_stale": 60}
    _fresh_heartbeats()
    last = json.loads(state.client().get(state.heartbeat_last_key("imports")))
    state.client().set(
        state.heartbeat_last_key("imports"),
        json.dumps({**last, "started_at": state.now_ts() - 90}),
    )
    _check()
    assert _open("queue_stalled", "imports").exists()
    _fresh_heartbeats()
    _check()
    assert not _open("queue_stalled").exists()


@pytest.mark.django_db
def test_beat_stalled_resolves_when_beat_ticks_again(clean_redis):
    _check()
    assert _open("beat_stalled", "beat").exists()
    _fresh_heartbeats()
    _check()
    assert not _open("beat_stalled").exists()


@pytest.mark.django_db(transaction=True)
def test_every_worker_gone_is_one_alert_naming_every_queue_and_resolves_when_one_returns(
    clean_redis, settings
):
    settings.OPS_ALERT_EMAIL = ["oncall@example.com"]
    settings.SITE_URL = "https://batch.example.com/"
    _fresh_heartbeats()
    for _ in range(2):
        _check(workers=True)
    [alert] = _open("queue_no_worker")
    assert alert.subject == "workers"
    assert alert.message == (
        "No worker is running: no queue (default, imports, reports, ops) is being consumed. "
        "First step: start a worker for them: "
        "`celery -A config worker -Q default,imports,reports,ops -l INFO`."
    )
    assert not Alert.objects.filter(status="open", subject__in=settings.PLATFORM_QUEUES).exists()
    [opened] = mail.outbox
    assert opened.subject == "[ops] OPEN RED: queue_no_worker workers"
    assert (
        "\n\nFirst step: start a worker for them: "
        "`celery -A config worker -Q default,imports,reports,ops -l INFO`.\n" in opened.body
    )
    assert f"https://batch.example.com/admin/ops/alert/{alert.id}/change/" in opened.body
    assert "https://batch.example.com/admin/ops/dashboard/" in opened.body

    register_workers(1, queues=settings.PLATFORM_QUEUES)  # a worker on every queue starts
    _check(workers=True)
    assert not _open("queue_no_worker").exists()
    resolved = mail.outbox[1]
    assert resolved.subject == "[ops] RESOLVED: queue_no_worker workers"
    assert "It was: No worker is running: no queue (default, imports" in resolved.body
    assert "First step" not in resolved.body
    assert "It lasted " in resolved.body
    assert "Its condition cleared." in resolved.body


@pytest.mark.django_db
def test_the_no_worker_alert_follows_the_queues_it_names_without_a_second_alert(
    clean_redis, settings
):
    _fresh_heartbeats()
    register_workers(1, queues=["default", "ops"])
    _check(workers=True)
    [alert] = _open("queue_no_worker")
    assert alert.message.startswith("No worker consumes 2 of 4 queues: imports, reports;")
    assert "-Q imports,reports " in alert.message
    register_workers(1, queues=["reports"], first=1)
    _check(workers=True)
    [same] = _open("queue_no_worker")
    assert same.id == alert.id
    assert "-Q imports " in same.message


def _failed_import(dataset="products", *, chunk_error="OperationalError: server closed"):
    now = timezone.now()
    job = ImportJob.objects.create(dataset=dataset, status="partially_failed", started_at=now,
                                   finished_at=now, chunks_total=2, rows_total=4,
                                   error="1 of 2 chunks failed; they can be retried.")  # fmt: skip
    ImportChunk.objects.create(job=job, index=0, offset=0, length=10, first_row=2, row_count=2,
                               status="done")  # fmt: skip
    failed = ImportChunk.objects.create(job=job, index=1, offset=10, length=10, first_row=4,
                                        row_count=2, status="failed", error=chunk_error)  # fmt: skip
    return job, failed


@pytest.mark.django_db
def test_import_failed_resolves_when_its_retry_succeeded(clean_redis):
    job, chunk = _failed_import()
    alert_raise(kind="import_failed", subject=f"import #{job.id}", message="chunk 1 failed")
    _check()
    assert _open("import_failed").exists(), "still failed: the alert stays"

    # The retry runs: the job is running again, the alert stays until it ends well.
    ImportJob.objects.filter(id=job.id).update(status="running", finished_at=None)
    ImportChunk.objects.filter(id=chunk.id).update(status="pending")
    _check()
    assert _open("import_failed").exists()

    ImportChunk.objects.filter(id=chunk.id).update(status="done")
    ImportJob.objects.filter(id=job.id).update(status="succeeded", finished_at=timezone.now())
    _check()
    alert = Alert.objects.get(kind="import_failed")
    assert alert.status == "resolved"
    assert alert.resolved_by is None, "resolved by its condition"


@pytest.mark.django_db
def test_import_failed_resolves_when_the_import_is_deleted(clean_redis):
    job, _ = _failed_import()
    alert_raise(kind="import_failed", subject=f"import #{job.id}", message="x")
    job.delete()
    _check()
    assert not _open("import_failed").exists()


@pytest.mark.django_db
def test_import_chunk_killed_worker_resolves_when_the_chunk_is_retried_and_done(clean_redis):
    job, chunk = _failed_import(chunk_error="killed its worker 3 times")
    subject = f"import #{job.id} chunk {chunk.index}"
    alert_raise(kind="import_chunk_killed_worker", subject=subject, message="x")
    _check()
    assert _open("import_chunk_killed_worker", subject).exists()
    ImportChunk.objects.filter(id=chunk.id).update(status="done")
    _check()
    assert not _open("import_chunk_killed_worker").exists()


@pytest.mark.django_db
def test_inbox_file_failed_resolves_when_the_file_was_taken(clean_redis, settings):
    path = default_storage.save(f"{settings.IMPORT_INBOX_DIR}/products__late.csv",
                                ContentFile(b"sku,name\n"))  # fmt: skip
    alert_raise(kind="inbox_file_failed", subject=path, message="disk quota exceeded")
    _check()
    assert _open("inbox_file_failed", path).exists()
    default_storage.delete(path)  # what taking it does: it moves to the archive
    _check()
    assert not _open("inbox_file_failed").exists()


def _report_runs(*kinds_and_statuses):
    import datetime as dt

    from reporting.models import ReportDefinition, ReportRun
    from reporting.services import report_definition_create, report_run_create

    definition = ReportDefinition.objects.filter(name="Daily sales").first() or (
        report_definition_create(
            name="Daily sales", to_recipients="ceo@example.com", timezone="Europe/Berlin"
        )
    )
    runs = []
    for kind, status in kinds_and_statuses:
        run = report_run_create(definition=definition, business_date=dt.date(2026, 11, 20),
                                kind=kind, enqueue=False)  # fmt: skip
        ReportRun.objects.filter(pk=run.pk).update(status=status)
        run.refresh_from_db()
        runs.append(run)
    return runs


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "status"), [("report_send_unknown", "unknown"), ("report_send_failed", "failed")]
)
def test_report_send_alerts_resolve_when_a_resend_of_that_report_was_sent(
    clean_redis, kind, status
):
    from reporting.models import ReportRun
    from reporting.monitoring import run_alert_subject

    [unsent] = _report_runs(("manual", status))
    subject = run_alert_subject(unsent)
    alert_raise(kind=kind, subject=subject, message="not sent, or not known to be")
    _check()
    assert _open(kind, subject).exists()
    [resend] = _report_runs(("resend", "pending"))
    _check()
    assert _open(kind).exists(), "a resend not yet sent changes nothing"
    ReportRun.objects.filter(pk=resend.pk).update(status="sent")
    _check()
    assert not _open(kind).exists()


@pytest.mark.django_db
def test_report_send_failed_resolves_as_soon_as_the_resend_is_sent(clean_redis):
    from reporting.monitoring import run_alert_subject, run_sent_alerts_resolve

    failed, resend = _report_runs(("manual", "failed"), ("resend", "sent"))
    alert_raise(kind="report_send_failed", subject=run_alert_subject(failed), message="refused")
    run_sent_alerts_resolve(run=resend)  # what the sending service does after the 250
    alert = Alert.objects.get(kind="report_send_failed")
    assert (alert.status, alert.resolved_by) == ("resolved", None)


@pytest.mark.django_db
def test_an_app_kind_nobody_evaluates_is_left_open(clean_redis):
    alert_raise(kind="warehouse_sync_late", subject="nightly", message="x")
    _check()
    assert _open("warehouse_sync_late").exists()


# --- by hand ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_resolving_by_hand_needs_a_note_and_records_who_and_why(django_user_model, settings):
    settings.OPS_ALERT_EMAIL = ["ops@example.com"]
    user = django_user_model.objects.create_user("oncall")
    alert = alert_raise(kind="report_send_failed", subject="report #4", message="refused")
    with pytest.raises(ValueError, match="note"):
        alerts_resolve_by_hand(alert_ids=[alert.id], user_id=user.id, note="  ")
    assert (
        alerts_resolve_by_hand(
            alert_ids=[alert.id], user_id=user.id, note="recipient fixed, sent by hand"
        )
        == 1
    )
    assert alerts_resolve_by_hand(alert_ids=[alert.id], user_id=user.id, note="again") == 0
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by, alert.resolution_note) == (
        "resolved", user, "recipient fixed, sent by hand",
    )  # fmt: skip
    assert "Resolved by hand by oncall: recipient fixed, sent by hand" in mail.outbox[-1].body


@pytest.fixture
def resolver(django_user_model):
    user = django_user_model.objects.create_user("resolver", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="ops", codename__in=["view_alert", "resolve_alert"]))  # fmt: skip
    return user


@pytest.mark.django_db
def test_the_admin_action_asks_for_a_note_then_resolves(client, resolver):
    alert = alert_raise(kind="inbox_file_failed", subject="inbox/x.csv", message="x")
    client.force_login(resolver)
    selected = {"action": "resolve_by_hand", "_selected_action": [alert.id]}
    page = client.post("/admin/ops/alert/", selected)
    assert page.status_code == 200
    assert "Resolve with this note" in page.content.decode()
    empty = client.post("/admin/ops/alert/", {**selected, "apply": "1", "note": ""})
    assert "This field is required" in empty.content.decode()
    done = client.post("/admin/ops/alert/", {**selected, "apply": "1", "note": "file removed"},
                       follow=True)  # fmt: skip
    assert "1 alert(s) resolved by resolver." in done.content.decode()
    alert.refresh_from_db()
    assert (alert.status, alert.resolution_note) == ("resolved", "file removed")


@pytest.mark.django_db
def test_the_resolve_action_needs_its_permission(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_alert"))
    alert = alert_raise(kind="inbox_file_failed", subject="inbox/x.csv", message="x")
    client.force_login(viewer)
    assert "Resolve selected open alerts" not in client.get("/admin/ops/alert/").content.decode()
    client.post("/admin/ops/alert/", {"action": "resolve_by_hand", "_selected_action": [alert.id],
                                      "apply": "1", "note": "sneaky"})  # fmt: skip
    alert.refresh_from_db()
    assert alert.status == "open"


# --- the overall state and the dashboard --------------------------------------------------


@pytest.mark.django_db
def test_overall_state_is_the_worst_of_queue_states_and_open_alerts(clean_redis):
    _fresh_heartbeats()
    assert platform_status(read_workers=False).state == "green"
    # Kinds a team's app raises and nobody evaluates: they count until resolved.
    alert_raise(kind="warehouse_sync_late", subject="nightly", message="x", severity="amber")
    assert platform_status(read_workers=False).state == "amber"
    alert_raise(kind="warehouse_sync_failed", subject="nightly", message="x")
    assert platform_status(read_workers=False).state == "red"


@pytest.mark.django_db
def test_dashboard_lists_recent_import_failures_apart_from_the_alerts(
    client, django_user_model, clean_redis, settings
):
    uploader = django_user_model.objects.create_user("alice")
    ImportJob.objects.create(dataset="products", status="failed", original_name="broken.csv",
                             created_by=uploader, finished_at=timezone.now(),
                             error="broken.csv: missing column 'sku'")  # fmt: skip
    ImportJob.objects.create(dataset="team_stations", status="succeeded", original_name="ok.csv")
    ops_user = django_user_model.objects.create_user("oncall", is_staff=True)
    ops_user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(ops_user)
    html = client.get("/admin/ops/dashboard/").content.decode()
    assert "Recent import failures" in html
    panel = html[html.index('id="ops-panel-import_failures"') :]
    panel = panel[: panel.index("</table>")]
    assert "broken.csv: missing column &#x27;sku&#x27;" in panel
    assert "alice" in panel
    assert "ok.csv" not in panel
