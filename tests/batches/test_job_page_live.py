"""The import job page tells one story while the job runs: its phase and how far that
phase is, the counts so far, a page of chunks and the first errors, all from an
endpoint the page polls whose cost does not grow with the job."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches.models import ImportChunk, ImportJob, ImportRowError
from batches.selectors import CHUNKS_PER_PAGE

ROWS_PER_CHUNK = 50_000
Status = ImportChunk.Status


def running_job(
    chunks: list[str], *, mode=ImportJob.Mode.VALID_ROWS, phase=ImportJob.Phase.WRITE
) -> ImportJob:
    """A running job whose chunks have the given statuses (done ones counted as new rows)."""
    job = ImportJob.objects.create(
        dataset="airports", status=ImportJob.Status.RUNNING, mode=mode, phase=phase,
        original_name="big.csv", rows_total=ROWS_PER_CHUNK * len(chunks),
        chunks_total=len(chunks), started_at=timezone.now() - timezone.timedelta(seconds=10),
    )  # fmt: skip
    ImportChunk.objects.bulk_create(
        _chunk(job, index, status) for index, status in enumerate(chunks)
    )
    return job


def _chunk(job: ImportJob, index: int, status: str) -> ImportChunk:
    done, failed = status == Status.DONE, status == Status.FAILED
    return ImportChunk(
        job=job, index=index, offset=0, length=1, first_row=2 + index * ROWS_PER_CHUNK,
        row_count=ROWS_PER_CHUNK, status=status, attempts=1 if done or failed else 0,
        rows_new=ROWS_PER_CHUNK - 2 if done else 0, rows_rejected=2 if done else 0,
        error="database went away" if failed else "",
    )  # fmt: skip


def poll(client, job: ImportJob, **params) -> dict:
    response = client.get(reverse("admin:batches_importjob_progress", args=[job.id]), params)
    assert response.status_code == 200
    return response.json()


def poll_queries(client, job: ImportJob) -> int:
    with CaptureQueriesContext(connection) as queries:
        poll(client, job)
    return len(queries)


def test_a_poll_of_a_200_chunk_job_costs_the_queries_of_a_2_chunk_job(
    client, importer, django_assert_max_num_queries
):
    client.force_login(importer)
    small = running_job([Status.DONE, Status.RUNNING])
    big = running_job([Status.DONE] * 80 + [Status.RUNNING] * 2 + [Status.PENDING] * 118)
    for job in (small, big):
        ImportRowError.objects.bulk_create(
            ImportRowError(job=job, row_number=n, message=f"row {n}: bad") for n in range(2, 400)
        )
    poll(client, small)  # the session and user are loaded the same way on every poll

    small_count = poll_queries(client, small)
    # 4 to know the user (session, user, its permissions and its groups'), 5 for the job.
    with django_assert_max_num_queries(9):
        state = poll(client, big)
    big_count = poll_queries(client, big)

    assert big_count == small_count, f"{small_count} queries for 2 chunks, {big_count} for 200"
    assert len(state["chunk_rows"]) == CHUNKS_PER_PAGE
    assert len(state["first_errors"]) == 5


def test_the_bar_never_says_100_percent_while_a_chunk_is_pending(client, importer):
    client.force_login(importer)
    # 1,999 of 2,000 chunks done is 99.95 %: rounded, that would read 100 %.
    job = running_job([Status.DONE] * 1999 + [Status.PENDING])

    state = poll(client, job)

    assert state["percent"] == 99.9
    assert state["phase"] == "writing"
    assert state["eta_display"] != "-"


def test_a_running_job_reports_the_counts_of_its_chunks_so_far(client, importer):
    client.force_login(importer)
    job = running_job([Status.DONE] * 4 + [Status.RUNNING] * 2 + [Status.PENDING] * 14)

    state = poll(client, job)

    assert (state["rows_done"], state["percent"]) == (4 * ROWS_PER_CHUNK, 20.0)
    assert state["rows_new"] == 4 * (ROWS_PER_CHUNK - 2)
    assert state["rows_rejected"] == 8
    assert state["chunks_display"] == "20 chunks: 14 pending, 2 running, 4 done."
    assert [row["status"] for row in state["chunk_rows"]][:6] == ["done"] * 4 + ["running"] * 2
    assert state["chunk_rows"][0]["rows"] == "2-50,001"


def test_every_chunk_ended_but_the_job_not_yet_finished_is_the_finishing_phase(client, importer):
    client.force_login(importer)
    job = running_job([Status.DONE] * 3 + [Status.FAILED])

    state = poll(client, job)

    assert state["phase"] == "finishing"
    assert state["percent"] == 100.0
    assert state["eta_display"] == "-"
    assert state["first_errors"] == ["rows 150,002-200,001: database went away"]


def test_an_all_or_nothing_job_says_it_is_checking_then_writing(client, importer):
    client.force_login(importer)
    checking = running_job(
        [Status.VALIDATED, Status.PENDING],
        mode=ImportJob.Mode.ALL_OR_NOTHING, phase=ImportJob.Phase.VALIDATE,
    )  # fmt: skip
    writing = running_job(
        [Status.DONE, Status.PENDING],
        mode=ImportJob.Mode.ALL_OR_NOTHING, phase=ImportJob.Phase.WRITE,
    )  # fmt: skip

    first, second = poll(client, checking), poll(client, writing)

    assert (first["phase"], first["percent"]) == ("checking", 50.0)
    assert first["phase_display"].startswith("Phase 1 of 2, checking")
    assert (second["phase"], second["percent"]) == ("writing", 50.0)
    assert second["phase_display"].startswith("Phase 2 of 2, writing")


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (ImportJob.Status.PENDING, "", "Not split into chunks yet."),
        (ImportJob.Status.QUEUED, "", "Not split into chunks yet."),
        (
            ImportJob.Status.FAILED,
            "big.csv: the file is empty",
            "The file was not split into chunks: see the error above.",
        ),
    ],
)
def test_not_split_into_chunks_yet_only_before_the_file_is_split(
    client, importer, status, error, words
):
    client.force_login(importer)
    finished_at = timezone.now() if status == ImportJob.Status.FAILED else None
    job = ImportJob.objects.create(
        dataset="airports", status=status, error=error, finished_at=finished_at
    )

    state = poll(client, job)
    page = client.get(reverse("admin:batches_importjob_follow", args=[job.id])).content.decode()

    assert state["chunks_display"] == words
    assert words in page


def test_the_job_page_shows_one_page_of_chunks_and_links_to_the_others(client, importer):
    client.force_login(importer)
    job = running_job([Status.DONE] * 120 + [Status.PENDING] * 80)
    url = reverse("admin:batches_importjob_follow", args=[job.id])

    first = client.get(url).content.decode()
    last = client.get(url, {"chunks": 4}).content.decode()
    state = poll(client, job, chunks=4)

    assert first.count("<tr><td>") == CHUNKS_PER_PAGE
    assert '<a href="?chunks=4">4</a>' in first
    assert "<tr><td>199</td>" in last
    assert "<tr><td>0</td>" not in last
    assert "progress.json?chunks=4" in last  # the page polls the chunks it shows
    assert [row["index"] for row in state["chunk_rows"]] == list(range(150, 200))


def test_the_progress_endpoint_needs_the_view_permission(client, django_user_model):
    job = running_job([Status.PENDING])
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)

    response = client.get(reverse("admin:batches_importjob_progress", args=[job.id]))

    assert response.status_code == 403
