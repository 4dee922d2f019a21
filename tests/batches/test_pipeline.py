"""The import pipeline end to end through a real worker, real Redis and PostgreSQL."""

from __future__ import annotations

import pytest

from batches.models import ImportChunk, ImportJob, ImportRowError
from catalogue.models import Airport, DailySales
from tests.batches.conftest import SALES_HEADER, run_job, sales_rows, wait_for_uploader_email
from tests.support.imports import make_job

pytestmark = pytest.mark.slow


def test_airports_file_imports_every_row_through_the_chord(celery_worker, airports_csv, importer):
    job = make_job("airports", airports_csv.read_bytes(), name="airports.csv", user=importer)

    job = run_job(job)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert Airport.objects.count() == 3376
    assert job.rows_total == 3376
    assert job.rows_new == 3376
    assert job.chunks.count() == 4
    assert set(job.chunks.values_list("status", flat=True)) == {ImportChunk.Status.DONE}
    quoted = Airport.objects.get(iata="35A")
    assert quoted.name == "Union County, Troy Shelton"
    email = wait_for_uploader_email()
    assert email.to == ["importer@example.com"]
    assert "succeeded" in email.subject.lower()


def test_importing_the_same_file_again_counts_rows_as_unchanged(celery_worker, airports_csv):
    run_job(make_job("airports", airports_csv.read_bytes()))

    again = run_job(make_job("airports", airports_csv.read_bytes()))

    assert again.status == ImportJob.Status.SUCCEEDED
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 3376)
    assert Airport.objects.count() == 3376


def test_changed_rows_are_updated_and_invalid_rows_reported(celery_worker):
    run_job(make_job("daily_sales", SALES_HEADER + sales_rows(2500)))
    changed = SALES_HEADER + sales_rows(10, units=7) + "2026-11-40,S001,SKU-1,1,1,0,1,EUR\n"

    job = run_job(make_job("daily_sales", changed))

    assert job.status == ImportJob.Status.PARTIALLY_FAILED
    assert (job.rows_new, job.rows_updated, job.rows_rejected) == (0, 10, 1)
    assert DailySales.objects.count() == 2500
    assert DailySales.objects.filter(units=7).count() == 10
    error = ImportRowError.objects.get(job=job)
    assert error.row_number == 12
    assert "column 'day'" in error.message
