"""A running import's page updates while you watch, without a reload: phase and how
far it is, counts, the chunk table and the first errors; it never shows 100 % while
chunks are pending. The job's state is written straight into the database here, so
the test controls each step; the journey in test_import_journey.py runs a real one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from batches.models import ImportChunk, ImportJob, ImportRowError
from tests.browser.support import (
    LAPTOP,
    PHONE,
    assert_accessible,
    assert_fits_viewport,
    save_guide_picture,
    save_screenshot,
)

pytestmark = pytest.mark.browser

ROWS = 50_000
CHUNKS = 20
VIEWER_PERMS = ("batches.view_import", "batches.run_import")
Status = ImportChunk.Status


def _set_chunks(job: ImportJob, statuses: dict[int, str]) -> None:
    for index, status in statuses.items():
        done = status == Status.DONE
        ImportChunk.objects.filter(job=job, index=index).update(
            status=status,
            attempts=1 if done else 0,
            rows_new=ROWS - 3 if done else 0,
            rows_rejected=3 if done else 0,
        )
        if done:
            first = 2 + index * ROWS
            ImportRowError.objects.bulk_create(
                ImportRowError(
                    job=job,
                    row_number=first + n * 7919,
                    message=f"row {first + n * 7919}, column 'unit_price': 'n/a' is not a number",
                )
                for n in range(3)
            )


@pytest.fixture
def running_import(transactional_db, make_user) -> ImportJob:
    """A 1,000,000-row import a third of the way through: 6 chunks done, 2 running."""
    user = make_user("ivy", perms=VIEWER_PERMS)
    job = ImportJob.objects.create(
        dataset="daily_sales", status=ImportJob.Status.RUNNING, phase=ImportJob.Phase.WRITE,
        original_name="daily-sales-2026-11.csv", file="imports/x/daily-sales-2026-11.csv",
        rows_total=ROWS * CHUNKS, chunks_total=CHUNKS, created_by=user,
        started_at=timezone.now() - dt.timedelta(seconds=4),
    )  # fmt: skip
    ImportChunk.objects.bulk_create(
        ImportChunk(
            job=job,
            index=index,
            offset=index * 2_000_000,
            length=2_000_000,
            first_row=2 + index * ROWS,
            row_count=ROWS,
        )
        for index in range(CHUNKS)
    )
    _set_chunks(job, {n: Status.DONE for n in range(6)} | {6: Status.RUNNING, 7: Status.RUNNING})
    return job


def _text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_a_running_import_updates_in_place_and_tells_one_story(page_for, running_import, make_user):
    job = running_import
    page = page_for(job.created_by, viewport=LAPTOP)
    page.goto(f"/admin/batches/importjob/{job.id}/follow/")
    page.evaluate("window.notReloaded = true")

    assert _text(page, "#status") == "running"
    assert _text(page, "#phase").startswith("Writing: each chunk checks its rows")
    assert (_text(page, "#done"), _text(page, "#percent")) == ("300,000", "30.0")
    assert _text(page, "#new") == f"{6 * (ROWS - 3):,}"
    assert _text(page, "#chunks-summary") == "20 chunks: 12 pending, 2 running, 6 done."
    assert page.locator("#chunks tbody tr").count() == CHUNKS
    assert page.locator("#first-errors li").count() == 5
    assert not page.locator("#job-error").is_visible()  # no job error yet: no empty box
    assert_fits_viewport(page)
    assert_accessible(page)
    save_guide_picture(page, "import-job-running")

    # Four more chunks end, one of them failing: the page follows within two seconds.
    _set_chunks(job, {6: Status.DONE, 7: Status.DONE, 8: Status.DONE, 10: Status.RUNNING})
    ImportChunk.objects.filter(job=job, index=9).update(
        status=Status.FAILED, attempts=3, error="Lost connection to the database"
    )
    page.wait_for_function(
        "() => document.getElementById('done').textContent === '500,000'", timeout=5_000
    )
    assert _text(page, "#new") == f"{9 * (ROWS - 3):,}"
    assert _text(page, "#rejected") == "27"
    assert _text(page, "#chunks-summary") == "20 chunks: 9 pending, 1 running, 9 done, 1 failed."
    failed_row = page.locator("#chunks tbody tr").nth(9).inner_text()
    assert "failed" in failed_row
    assert "Lost connection to the database" in failed_row
    assert page.locator("#first-errors li").first.inner_text() == (
        "rows 450,002-500,001: Lost connection to the database"
    )
    assert page.evaluate("window.notReloaded") is True  # updated in place

    # Every chunk has ended: finishing, and only now 100 %.
    _set_chunks(job, {n: Status.DONE for n in range(10, CHUNKS)})
    page.wait_for_function(
        "() => document.getElementById('phase').dataset.phase === 'finishing'", timeout=5_000
    )
    assert _text(page, "#percent") == "100.0"
    assert _text(page, "#eta") == "-"
    assert page.evaluate("window.notReloaded") is True

    # The callback finishes the job: the page reloads once, with the finished job's actions.
    ImportJob.objects.filter(id=job.id).update(
        status=ImportJob.Status.PARTIALLY_FAILED, finished_at=timezone.now(),
        rows_new=19 * (ROWS - 3), rows_rejected=57,
    )  # fmt: skip
    page.wait_for_function("() => window.notReloaded === undefined", timeout=5_000)
    page.wait_for_load_state("load")
    assert _text(page, "#status") == "partially failed"
    assert _text(page, "#phase").startswith("Finished in ")
    assert page.get_by_role("button", name="Retry failed chunks").is_visible()
    assert_accessible(page)


def test_a_running_import_page_fits_a_phone(page_for, running_import):
    page = page_for(running_import.created_by, viewport=PHONE)
    page.goto(f"/admin/batches/importjob/{running_import.id}/follow/")

    assert _text(page, "#phase").startswith("Writing")
    assert_fits_viewport(page)
    assert_accessible(page)
    save_screenshot(page, "import_job_running_phone")
