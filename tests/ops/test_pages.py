"""The dashboard, the admin home and /health/ready/ read state: no broadcast to the workers,
a fixed number of queries and Redis round trips with 4 queues and 10 workers registered."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import pytest
from celery.app.control import Control
from django.contrib.auth.models import Permission
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from batches.models import ImportJob
from ops import state
from ops.models import Alert
from ops.services import alert_raise
from reporting.models import ReportDefinition
from schedules.models import TaskRun

from .live_state import busy_night_write, platform_running
from .redis_calls import redis_calls

pytestmark = pytest.mark.django_db

# Per view for a superuser, with 4 queues and 10 workers registered (the figures
# docs/ops.md states). Session and user are 2 of them; staff who are not superusers add
# 2 (their permissions). The home: open alerts' states, the open alerts shown, imports,
# periodic runs, report sends, the admin's recent actions.
DASHBOARD_QUERIES = 10
HOME_QUERIES = 8
READY_QUERIES = 1  # anonymous: SELECT 1
# One pipeline for beat, the checks, the worker set and every queue's depth and
# heartbeat (27 commands); one for the 10 workers' liveness keys and records (20).
PAGE_ROUND_TRIPS = 2
READY_ROUND_TRIPS = 1


@pytest.fixture
def platform(clean_redis):
    """Beat ticking, every queue's heartbeat fresh, the checks just run, 10 workers alive."""
    platform_running(workers=10)
    return clean_redis


@pytest.fixture
def broadcasts():
    """Every broadcast to the workers (inspect, ping, control) made meanwhile."""
    with mock.patch.object(Control, "broadcast", autospec=True) as spy:
        yield spy


def _staff(django_user_model, username, *codenames):
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def _measured(client, url, django_assert_max_num_queries, *, queries):
    client.get(url)  # warm: connections opened, sessions read once
    with redis_calls() as calls, django_assert_max_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response, calls


def test_the_dashboard_reads_the_liveness_records_and_asks_no_worker(
    client, admin_user, platform, broadcasts, django_assert_max_num_queries
):
    client.force_login(admin_user)
    response, calls = _measured(
        client, "/admin/ops/dashboard/", django_assert_max_num_queries, queries=DASHBOARD_QUERIES
    )
    assert broadcasts.call_count == 0
    assert "PUBLISH" not in calls.commands
    assert calls.round_trips == PAGE_ROUND_TRIPS, calls.commands
    html = response.content.decode()
    assert "Workers alive: 10" in html
    assert "w9@host: imports" in html, html[html.find("ops-workers") :][:800]
    assert 'class="ops-state ops-green">GREEN</span>' in html


def test_the_admin_home_reads_state_in_a_fixed_budget(
    client, admin_user, platform, broadcasts, django_assert_max_num_queries
):
    client.force_login(admin_user)
    response, calls = _measured(
        client, "/admin/", django_assert_max_num_queries, queries=HOME_QUERIES
    )
    assert broadcasts.call_count == 0
    assert calls.round_trips == PAGE_ROUND_TRIPS, calls.commands
    assert 'id="ops-home-state"' in response.content.decode()


def test_readiness_is_one_query_and_one_redis_round_trip(
    client, platform, broadcasts, django_assert_max_num_queries
):
    response, calls = _measured(
        client, "/health/ready/", django_assert_max_num_queries, queries=READY_QUERIES
    )
    assert response.json() == {"status": "ok"}
    assert broadcasts.call_count == 0
    assert calls.round_trips == READY_ROUND_TRIPS, calls.commands


def test_the_budget_does_not_grow_with_the_night(
    client, admin_user, platform, django_assert_max_num_queries
):
    """Many imports, runs, alerts and reports: the same number of queries (no N+1)."""
    busy_night_write(imports=40, runs=60, alerts=12, reports=6)
    client.force_login(admin_user)
    _measured(client, "/admin/", django_assert_max_num_queries, queries=HOME_QUERIES)
    _measured(
        client, "/admin/ops/dashboard/", django_assert_max_num_queries, queries=DASHBOARD_QUERIES
    )


# --- what the home says, and to whom ------------------------------------------------------


def test_the_home_answers_did_the_night_go_well_with_links(client, admin_user, platform):
    today = timezone.now()
    yesterday = today - dt.timedelta(days=1)
    for status, when in [
        ("succeeded", today),
        ("succeeded", today),
        ("failed", today),
        ("running", today),
        ("partially_failed", yesterday),
    ]:
        job = ImportJob.objects.create(dataset="products", status=status)
        ImportJob.objects.filter(id=job.id).update(created_at=when)
    TaskRun.objects.create(task_name="team.nightly", status="failed", queued_at=today)
    TaskRun.objects.create(task_name="team.nightly", status="succeeded", queued_at=yesterday)
    alert = alert_raise(kind="import_failed", subject="import #7", message="chunk 2 failed")
    crontab = CrontabSchedule.objects.create(minute="0", hour="18", timezone="Europe/Berlin")
    task = PeriodicTask.objects.create(
        name="report: daily", task="reporting.send_report", crontab=crontab
    )
    ReportDefinition.objects.create(
        name="Daily sales",
        to_recipients="a@example.com",
        timezone="Europe/Berlin",
        periodic_task=task,
    )
    client.force_login(admin_user)
    html = client.get("/admin/").content.decode()

    assert 'Overall: <span class="ops-state ops-red">RED</span>' in html, "a red alert is open"
    assert "1 open alert" in html
    assert f'href="/admin/ops/alert/{alert.id}/change/"' in html
    assert "Import failed: import #7" in html
    imports = _panel(html, "imports_by_day")
    assert (
        '>today</td><td><span class="ops-state ops-green"><a href="/admin/batches/importjob/?status__in=succeeded&amp;created_at__gte='
        in imports
    )
    assert ">2</a>" in imports
    assert ">1</a>" in imports
    runs = _panel(html, "periodic_runs")
    assert "/admin/schedules/taskrun/?status__in=failed%2Cretried&amp;queued_at__gte=" in runs
    sends = _panel(html, "next_report_sends")
    assert "Daily sales" in sends
    assert "18:00 Europe/Berlin" in sends
    # Each link answers, and lists what the count says.
    link = re.search(r'href="(/admin/batches/importjob/\?status__in=succeeded[^"]+)"', imports)
    listed = client.get(link.group(1).replace("&amp;", "&"))
    assert listed.status_code == 200
    listed_html = listed.content.decode()
    assert "2 import jobs" in listed_html, listed_html[listed_html.find("result_list") - 300 :][
        :1500
    ]


def _panel(html: str, name: str) -> str:
    start = html.index(f'id="ops-home-{name}"')
    return html[start : html.index("</section>", start)]


@pytest.mark.parametrize(
    ("codenames", "shown", "hidden"),
    [
        (
            (),
            [],
            [
                "ops-home-state",
                "open_alerts",
                "imports_by_day",
                "periodic_runs",
                "next_report_sends",
            ],
        ),
        (
            ("view_import",),
            ["imports_by_day"],
            ["ops-home-state", "open_alerts", "periodic_runs", "next_report_sends"],
        ),
        (
            ("view_dashboard",),
            ["ops-home-state", "open_alerts"],
            ["imports_by_day", "periodic_runs", "next_report_sends"],
        ),
        (
            ("view_taskrun", "view_reportdefinition"),
            ["periodic_runs", "next_report_sends"],
            ["ops-home-state", "open_alerts", "imports_by_day"],
        ),
    ],
)
def test_a_person_sees_on_the_home_only_what_they_may_open(
    client, django_user_model, platform, codenames, shown, hidden
):
    alert_raise(kind="import_failed", subject="import #7", message="chunk 2 failed")
    client.force_login(_staff(django_user_model, "someone", *codenames))
    html = client.get("/admin/").content.decode()
    for name in shown:
        assert f'id="ops-home-{name.removeprefix("ops-home-")}' in html, name
    for name in hidden:
        assert f'id="ops-home-{name.removeprefix("ops-home-")}' not in html, name
    if "view_dashboard" not in codenames:
        assert "import #7" not in html


def test_the_home_says_when_the_checks_have_not_run_lately(client, admin_user, platform, settings):
    state.client().set(state.CHECKS_LAST, state.now_ts() - 10 * settings.OPS_CHECK_INTERVAL)
    client.force_login(admin_user)
    html = client.get("/admin/").content.decode()
    assert 'Overall: <span class="ops-state ops-amber">AMBER</span>' in html
    assert "is beat running, or a worker consuming ops?" in html


def test_anonymous_people_get_the_login_page_not_the_home(client, platform):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- Redis unreachable: one alert -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_redis_unreachable_is_one_alert_that_resolves_when_it_answers(platform, settings):
    from django.core import mail

    from ops.conditions import platform_status
    from ops.services import ops_checks_run

    settings.OPS_ALERT_EMAIL = ["oncall@example.com"]
    good = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    for _ in range(2):
        status = ops_checks_run(status=platform_status())
    assert status.state == "red"
    [alert] = Alert.objects.filter(status="open")
    assert (alert.kind, alert.subject) == ("redis_unreachable", "redis")
    assert "default, imports, reports, ops" in alert.message
    assert 'redis-cli -u "$REDIS_URL" ping' in alert.message
    assert "127.0.0.1" not in alert.message, "the exception's text stays in the log"
    assert len(mail.outbox) == 1

    settings.CELERY_BROKER_URL = good
    ops_checks_run(status=platform_status())
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert not Alert.objects.filter(status="open").exists()
    assert "It lasted " in mail.outbox[1].body


@pytest.mark.django_db(transaction=True)
def test_the_checks_loop_runs_without_its_lock_when_redis_is_down(platform, settings):
    from ops.runner import ChecksLoop

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    assert ChecksLoop(owner="test", interval=1).tick() is True
    assert Alert.objects.filter(kind="redis_unreachable", status="open").count() == 1


@pytest.mark.parametrize("url", ["/admin/", "/admin/ops/dashboard/"])
def test_the_pages_say_redis_does_not_answer_instead_of_failing(
    client, admin_user, platform, settings, url
):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="ops-state ops-red">RED</span>' in html
    assert "could not read Redis: ConnectionError" in html
