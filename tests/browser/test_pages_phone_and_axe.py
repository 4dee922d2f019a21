"""Every admin page this project added, on a phone (390x844) and a desktop: no
horizontal overflow of the page, and axe-core finds nothing serious or critical.

Pages are found from the admin registry at run time (changelist, add form, the first
object's page for every model of the project's apps), plus the custom views the apps
add. One test per app, each listing every problem it found on every page, so a report
names all of an app's pages at once. Screenshots go to artifacts/screenshots/phone/.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from tests.browser.support import (
    DESKTOP,
    PHONE,
    axe_violations,
    format_violations,
    horizontal_overflow,
    save_screenshot,
)

pytestmark = pytest.mark.browser

PROJECT_APPS = {
    # app label in the admin -> the app whose pages they are
    "schedules": "schedules",
    "django_celery_beat": "schedules",  # replaced by schedules' admin classes
    "batches": "batches",
    "reporting": "reporting",
    "ops": "ops",
    "catalogue": "catalogue",
}
BROKEN_AIRPORTS = (
    "iata,name,city,state,country,latitude,longitude\n"
    "00M,Thigpen,Bay Springs,MS,USA,31.95376472,-89.23450472\n"
    "00V,Meadow Lake,Colorado Springs,CO,USA,north-ish,-104.5698933\n"
)


@pytest.fixture
def one_of_everything(transactional_db, admin_user_browser, settings, tmp_path):
    """A row for every model the project's admin shows, made the way the apps make them."""
    from django_celery_beat.models import ClockedSchedule, SolarSchedule

    from batches.models import ImportRowError, InboxFile
    from batches.services.uploads import job_create
    from catalogue.models import Airport, Category, DailySales, Product
    from ops.models import Heartbeat
    from ops.services import alert_raise
    from reporting.models import ReportRun
    from reporting.services import report_definition_create
    from schedules.models import ScheduleChange, TaskRun
    from schedules.services.audit import schedule_change_record
    from schedules.services.default_schedules import default_schedules_sync

    settings.MEDIA_ROOT = str(tmp_path / "media")
    now = timezone.now()
    user = admin_user_browser

    default_schedules_sync(
        entries=[
            {"name": "probe weekdays", "task": "schedules.sleep_probe",
             "crontab": "0 18 * * 1-5", "kwargs": {"seconds": 0.1}},
            {"name": "probe often", "task": "schedules.sleep_probe", "interval": 30},
        ]
    )  # fmt: skip
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="probe weekdays")
    TaskRun.objects.create(
        periodic_task=task, task_name=task.task, status=TaskRun.Status.FAILED,
        queued_at=now, started_at=now, finished_at=now, duration=dt.timedelta(seconds=2),
        worker="worker@host", celery_task_id="c0ffee", error="RuntimeError: boom",
        trigger="beat",
    )  # fmt: skip
    schedule_change_record(
        user=user, action=ScheduleChange.Action.CREATED, obj=task, after={"enabled": True}
    )
    ClockedSchedule.objects.create(clocked_time=now + dt.timedelta(days=1))
    SolarSchedule.objects.create(event="sunrise", latitude=52.5, longitude=13.4)

    bakery = Category.objects.create(code="BAK", name="Bakery")
    Product.objects.create(sku="SKU-1", name="Sourdough", category=bakery, unit_price=4)
    DailySales.objects.create(
        day=now.date(), store_code="S001", sku="SKU-1", units=3,
        unit_price=Decimal("4"), revenue=Decimal("12"),
    )  # fmt: skip
    Airport.objects.create(
        iata="00M", name="Thigpen", city="Bay Springs", state="MS", country="USA",
        latitude=Decimal("31.95376472"), longitude=Decimal("-89.23450472"),
    )  # fmt: skip

    definition = report_definition_create(name="Daily sales", to_recipients="ceo@example.com")
    ReportRun.objects.create(
        definition=definition, business_date=now.date(), status="sent",
        to_recipients="ceo@example.com", subject="Daily sales", attempts=1, sent_at=now,
    )  # fmt: skip

    job = job_create(
        dataset="airports", file=ContentFile(BROKEN_AIRPORTS.encode(), name="airports.csv"),
        name="airports.csv", user=user,
    )  # fmt: skip
    ImportRowError.objects.create(
        job=job, row_number=3, column="latitude", message="'north-ish' is not a number",
        values=BROKEN_AIRPORTS.splitlines()[2].split(","),
    )  # fmt: skip
    InboxFile.objects.create(checksum="ab" * 32, path="imports/inbox/airports.csv",
                             dataset="airports", job=job)  # fmt: skip

    alert_raise(kind="queue_stalled", subject="imports", message="No heartbeat for 60 s.")
    Heartbeat.objects.create(
        queue="imports", celery_task_id="hb-1", sent_at=now, started_at=now, latency=0.1,
        worker="worker@host",
    )  # fmt: skip
    return {"job": job, "definition": definition}


def _admin_pages(app: str) -> list[tuple[str, str]]:
    """(name, url) of the changelist, add form and first object of each of app's models."""
    pages = []
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        if PROJECT_APPS.get(meta.app_label) != app:
            continue
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        name = f"{meta.app_label}.{meta.model_name}"
        pages.append((f"{name} list", reverse(f"{prefix}_changelist")))
        if model_admin.has_add_permission(_SuperuserRequest()):
            pages.append((f"{name} add", reverse(f"{prefix}_add")))
        first = model_admin.get_queryset(_SuperuserRequest()).order_by("pk").first()
        if first is not None and meta.model_name != "dashboard":
            pages.append((f"{name} page", reverse(f"{prefix}_change", args=[first.pk])))
    return pages


class _SuperuserRequest:
    """Enough of a request for has_add_permission and get_queryset of a superuser."""

    class user:
        is_active = is_staff = is_superuser = True
        pk = id = None

        @staticmethod
        def has_perm(perm, obj=None):
            return True

    GET: dict = {}
    META: dict = {}


def _custom_pages(app: str, data: dict) -> list[tuple[str, str]]:
    """The apps' own views (not model pages); JSON, CSV and POST-only URLs are left out."""
    job, definition = data["job"], data["definition"]
    if app == "batches":
        return [
            ("import upload", reverse("admin:batches_importjob_upload")),
            ("import preview", reverse("admin:batches_importjob_preview", args=[job.id])),
            ("import job", reverse("admin:batches_importjob_follow", args=[job.id])),
        ]
    if app == "reporting":
        url = reverse("admin:reporting_reportdefinition_preview", args=[definition.pk])
        return [("report preview", url)]
    return []  # the ops dashboard is the changelist of ops.Dashboard


def _check_pages(page, pages: list[tuple[str, str]], app: str) -> list[str]:
    problems = []
    for name, url in pages:
        page.set_viewport_size(DESKTOP)
        response = page.goto(url)
        if response is None or response.status != 200:
            problems.append(f"{name} ({url}): HTTP {response and response.status}")
            continue
        wide = horizontal_overflow(page)
        if wide["scrollWidth"] > wide["width"] + 2:
            problems.append(
                f"{name} ({url}) is {wide['scrollWidth']}px wide on a {wide['width']}px "
                f"desktop: {wide['culprits']}"
            )
        page.set_viewport_size(PHONE)
        wide = horizontal_overflow(page)
        if wide["scrollWidth"] > wide["width"] + 2:
            problems.append(
                f"{name} ({url}) is {wide['scrollWidth']}px wide on a {wide['width']}px "
                f"phone: {wide['culprits']}"
            )
        violations = axe_violations(page)
        if violations:
            problems.append(f"{name} ({url}) axe:\n{format_violations(violations)}")
        save_screenshot(page, f"{app}-{name}", folder="phone")
    return problems


@pytest.mark.parametrize("app", ["schedules", "batches", "reporting", "ops", "catalogue"])
def test_every_admin_page_of_the_app_fits_a_phone_and_passes_axe(
    app, admin_page, one_of_everything
):
    pages = _admin_pages(app) + _custom_pages(app, one_of_everything)
    assert pages, f"no admin pages found for {app}"

    problems = _check_pages(admin_page, pages, app)

    assert not problems, f"{len(problems)} problem(s) on {app}'s pages:\n" + "\n".join(problems)
