"""Service-level idempotency: the planner and the callback run twice, same state."""

from __future__ import annotations

import pytest

from batches.models import ImportChunk, ImportJob
from batches.services import planning
from batches.services.control import job_cancel
from batches.services.finishing import job_finish
from batches.services.planning import job_plan
from catalogue.models import DailySales
from tests.batches.conftest import SALES_HEADER, run_inline, sales_rows
from tests.support.imports import make_job

pytestmark = pytest.mark.django_db


def test_planner_run_twice_creates_the_chunks_once(django_capture_on_commit_callbacks):
    job = make_job("daily_sales", SALES_HEADER + sales_rows(2500))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)

    with django_capture_on_commit_callbacks() as first:
        job_plan(job_id=job.id)
    with django_capture_on_commit_callbacks() as second:
        job_plan(job_id=job.id)

    assert list(job.chunks.values_list("index", "first_row", "row_count")) == [
        (0, 2, 1000),
        (1, 1002, 1000),
        (2, 2002, 500),
    ]
    assert (len(first), len(second)) == (1, 0)  # the chord is started once
    job.refresh_from_db()
    assert (job.status, job.rows_total, job.chunks_total) == ("running", 2500, 3)


def test_chunk_byte_ranges_never_cut_a_quoted_field_with_newlines(settings):
    settings.IMPORT_CHUNK_ROWS = 2
    content = (
        "iata,name,city,state,country,latitude,longitude\n"
        'AAA,"Alpha\nField, East",X,,USA,1,2\n'
        'BBB,"Beta ""B""",X,,USA,1,2\n'
        "\n"
        'CCC,"Gamma\r\nField",X,,USA,1,2\n'
        "DDD,Delta,X,,USA,1,x\n"
    )

    job = run_inline(make_job("airports", content))

    assert list(job.chunks.values_list("first_row", "row_count")) == [(2, 2), (4, 2)]
    assert job.rows_new == 3
    assert job.row_errors.get().row_number == 6  # the blank line keeps its number
    from catalogue.models import Airport

    assert Airport.objects.get(iata="AAA").name == "Alpha\nField, East"
    assert Airport.objects.get(iata="BBB").name == 'Beta "B"'


def test_finish_run_twice_keeps_the_first_totals_and_finish_time():
    job = run_inline(make_job("daily_sales", SALES_HEADER + sales_rows(1500)))
    finished_at = job.finished_at
    ImportChunk.objects.filter(job=job).update(rows_new=0)  # would change totals if recounted

    job_finish(job_id=job.id)

    job.refresh_from_db()
    assert (job.rows_new, job.finished_at) == (1500, finished_at)


def test_cancel_before_the_planner_runs_finishes_the_job_without_chunks():
    job = make_job("daily_sales", SALES_HEADER + sales_rows(10))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)

    assert job_cancel(job_id=job.id)
    job_plan(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.chunks.count()) == ("cancelled", 0)
    assert job.finished_at is not None
    assert not job_cancel(job_id=job.id)


def test_the_planner_writes_a_small_first_chunk_before_splitting_the_rest(
    settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_FIRST_CHUNK_ROWS = 100
    job = make_job("daily_sales", SALES_HEADER + sales_rows(2500))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)

    with django_capture_on_commit_callbacks() as sent:
        job_plan(job_id=job.id)

    chunks = list(job.chunks.order_by("index").values_list("first_row", "row_count", "status"))
    assert chunks == [
        (2, 100, "done"),  # written by the planner: its rows are in the table already
        (102, 1000, "pending"),
        (1102, 1000, "pending"),
        (2102, 400, "pending"),
    ]
    assert DailySales.objects.count() == 100
    assert len(sent) == 1  # one chord, over the three chunks still to run
    job.refresh_from_db()
    assert (job.status, job.rows_total, job.chunks_total) == ("running", 2500, 4)
    job = run_inline(job)
    assert (job.status, job.rows_new, DailySales.objects.count()) == ("succeeded", 2500, 2500)
    assert job.chunks.get(index=0).attempts == 1  # the chord's copy found it done


def test_a_planner_that_dies_after_the_first_chunk_is_resumed_by_its_redelivery(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.IMPORT_FIRST_CHUNK_ROWS = 100
    job = make_job("daily_sales", SALES_HEADER + sales_rows(2500))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)

    def dies(*args, **kwargs):
        raise SystemExit("the worker died here")

    monkeypatch.setattr(planning, "_plan_rest", dies)
    with pytest.raises(SystemExit):
        job_plan(job_id=job.id)
    job.refresh_from_db()
    assert job.status == "queued"  # the planner still owns it: redelivered or re-sent
    first = job.chunks.get()
    assert (first.row_count, first.status, DailySales.objects.count()) == (100, "done", 100)

    monkeypatch.undo()
    with django_capture_on_commit_callbacks() as sent:
        job_plan(job_id=job.id)

    assert len(sent) == 1
    assert list(job.chunks.order_by("index").values_list("id", "row_count")) == [
        (first.id, 100), (first.id + 1, 1000), (first.id + 2, 1000), (first.id + 3, 400),
    ]  # fmt: skip
    job = run_inline(job)
    assert (job.status, job.rows_new, DailySales.objects.count()) == ("succeeded", 2500, 2500)
    assert job.chunks.get(index=0).attempts == 1


def test_a_job_cancelled_while_the_planner_writes_the_first_chunk_keeps_its_rows(
    settings, monkeypatch
):
    settings.IMPORT_FIRST_CHUNK_ROWS = 100
    job = make_job("daily_sales", SALES_HEADER + sales_rows(2500))
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)
    real = planning._first_chunk_try

    def cancelled_meanwhile(chunk_id):
        tried = real(chunk_id)
        job_cancel(job_id=job.id)
        return tried

    monkeypatch.setattr(planning, "_first_chunk_try", cancelled_meanwhile)
    assert job_plan(job_id=job.id) == "cancelled"

    job.refresh_from_db()
    assert job.finished_at is not None
    assert (job.rows_new, job.rows_total, job.chunks_total) == (100, 100, 1)
    assert DailySales.objects.count() == 100
