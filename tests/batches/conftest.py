"""Fixtures for the imports tests: small chunks, a private media folder, file helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core import mail

from batches.models import ImportJob
from batches.services.chunks import chunk_import
from batches.services.finishing import job_finish
from batches.services.planning import job_plan
from batches.services.uploads import job_queue
from tests.support.imports import wait_for_finish
from tests.support.processes import wait_for

DATA_DIR = Path(settings.BASE_DIR) / "catalogue" / "data"


@pytest.fixture(autouse=True)
def imports_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMPORT_CHUNK_ROWS = 1000
    settings.IMPORT_CHUNK_MAX_RETRIES = 2
    # Tests that are not about slow senders take inbox files without waiting.
    settings.IMPORT_INBOX_SETTLE_SECONDS = 0
    return settings


@pytest.fixture
def airports_csv() -> Path:
    return DATA_DIR / "airports.csv"


def run_job(job: ImportJob, *, timeout: float = 60) -> ImportJob:
    """Queue a job to the real worker and wait until it has finished."""
    job_queue(job_id=job.id)
    return wait_for_finish(job.id, timeout=timeout)


@pytest.fixture
def importer(django_user_model):
    user = django_user_model.objects.create_user(
        "importer", email="importer@example.com", password="pw", is_staff=True
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="batches",
            codename__in=["run_import", "view_import", "view_importjob"],
        )
    )
    return user


SALES_HEADER = "day,store_code,sku,units,unit_price,discount,revenue,currency\n"


def sales_rows(count: int, *, start: int = 0, units: int = 3) -> str:
    return "".join(
        f"2026-11-{1 + (n // 1000) % 28:02d},S{n % 1000:03d},SKU-{n // 28000:05d},{units},"
        f"2.50,0.00,{units * 2.5:.2f},EUR\n"
        for n in range(start, start + count)
    )


def run_inline(job: ImportJob) -> ImportJob:
    """Run the pipeline's services in this process, in order (unit tests; no worker)."""
    ImportJob.objects.filter(id=job.id, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.QUEUED
    )
    job_plan(job_id=job.id)
    job.refresh_from_db()
    if job.finished_at:
        return job
    phases = (
        [ImportJob.Phase.VALIDATE, ImportJob.Phase.WRITE]
        if job.mode == ImportJob.Mode.ALL_OR_NOTHING
        else [ImportJob.Phase.WRITE]
    )
    for phase in phases:
        for chunk_id in job.chunks.order_by("index").values_list("id", flat=True):
            chunk_import(chunk_id=chunk_id, phase=phase)
        job_finish(job_id=job.id, phase=phase)
        job.refresh_from_db()
        if job.finished_at:
            break
    return job


def wait_for_uploader_email(*, timeout: float = 30):
    """The uploader's email goes after the job's finishing transaction commits, so a
    test that saw the job finish waits for it rather than racing the worker."""
    wait_for(lambda: mail.outbox, timeout=timeout, message="the uploader's email")
    return mail.outbox[-1]
