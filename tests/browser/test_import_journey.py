"""Journeys 2 and 5: a staff user imports a real CSV with a broken row; a staff user
without the import permission cannot start one."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Error as PlaywrightError

from batches.models import ImportJob
from catalogue.models import Airport
from tests.browser.support import (
    LAPTOP,
    PHONE,
    assert_accessible,
    assert_fits_viewport,
    save_guide_picture,
    save_screenshot,
)

pytestmark = pytest.mark.browser

AIRPORTS_CSV = Path(settings.BASE_DIR) / "catalogue" / "data" / "airports.csv"
IMPORTER_PERMS = ("batches.run_import", "batches.view_import", "catalogue.view_airport")


@pytest.fixture
def small_chunks(settings, tmp_path):
    # Several chunks, so the progress bar has steps to go through.
    settings.IMPORT_CHUNK_ROWS = 500
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings


@pytest.fixture
def airports_with_a_broken_row(tmp_path) -> tuple[Path, int, int]:
    """The real airports file with row 4's latitude made unreadable.

    Returns (path, data rows, row number of the broken row counting the header as 1).
    """
    rows = list(csv.reader(io.StringIO(AIRPORTS_CSV.read_text(encoding="utf-8"))))
    header, data = rows[0], rows[1:]
    data[2][header.index("latitude")] = "north-ish"
    path = tmp_path / "airports-with-a-typo.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *data])
    return path, len(data), 4


def test_staff_user_imports_airports_sees_the_broken_row_and_downloads_the_errors(
    make_user, page_for, celery_worker, small_chunks, airports_with_a_broken_row, tmp_path
):
    path, data_rows, broken_row = airports_with_a_broken_row
    page = page_for(make_user("ivy", perms=IMPORTER_PERMS))

    page.get_by_role("link", name="Import jobs").click()
    page.get_by_role("link", name="Import a CSV file").click()
    page.get_by_label("Dataset:").select_option(label="Airports (keyed by IATA code)")
    page.get_by_label("File:").set_input_files(path)
    assert_accessible(page)
    save_guide_picture(page, "import-upload")
    page.get_by_role("button", name="Upload and check").click()

    # The preview flags the broken row, on the row and on the cell.
    page.wait_for_url("**/preview/")
    assert "1 of them would be rejected" in page.inner_text("#content")
    bad_row = page.locator("#result_list tbody tr.bad").first
    assert bad_row.locator("th").inner_text() == str(broken_row)
    bad_cell = bad_row.locator("td.bad")
    assert "north-ish" in bad_cell.inner_text()
    assert "not a number" in bad_cell.inner_text()
    assert (
        f"row {broken_row}, column 'latitude'"
        in page.locator("#result_list tbody tr.bad").nth(1).inner_text()
    )
    assert_accessible(page)
    save_guide_picture(page, "import-preview")

    # Confirm, then watch the bar until the job is done.
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url("**/follow/")
    # The page polls and reloads itself when the job finishes; the test only looks.
    widths = []
    status = page.locator("#status")
    for _ in range(300):
        widths.append(_bar_width(page))
        if status.inner_text() in ("succeeded", "partially failed", "failed"):
            break
        page.wait_for_timeout(200)
    widths.append(_bar_width(page))
    assert widths == sorted(widths), f"the bar went backwards: {widths}"
    assert widths[-1] == 100
    assert status.inner_text() == "partially failed"
    assert page.locator("#new").inner_text().replace(",", "") == str(data_rows - 1)
    assert page.locator("#rejected").inner_text() == "1"
    page.wait_for_function("() => document.getElementById('phase').dataset.phase === 'finished'")
    assert page.locator("#phase").inner_text().startswith("Finished in ")
    assert page.locator("#chunks tbody tr").first.locator("td").nth(2).inner_text() == "done"
    assert_accessible(page)
    save_guide_picture(page, "import-job-done")

    # The error file names the row, the column and what was wrong.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    error_rows = list(csv.DictReader(saved.open(encoding="utf-8-sig")))
    assert len(error_rows) == 1
    error_text = " ".join(error_rows[0].values())
    assert str(broken_row) in error_text
    assert "latitude" in error_text
    assert "north-ish" in error_text

    # The airports are in the sample app's admin.
    assert Airport.objects.count() == data_rows - 1
    page.goto("/admin/catalogue/airport/")
    assert re.search(rf"{data_rows - 1}\s+airports", page.inner_text("#changelist"))
    page.locator("#searchbar").fill("Meadow")
    page.get_by_role("button", name="Search").click()
    found = page.locator("#result_list tbody").inner_text()
    assert "00V" not in found  # the broken row was not imported
    assert "Meadow Lake" not in found
    page.locator("#searchbar").fill("Thigpen")
    page.get_by_role("button", name="Search").click()
    assert "Bay Springs" in page.locator("#result_list tbody").inner_text()
    assert "1 result" in page.inner_text("#changelist-search")
    assert_accessible(page)
    save_screenshot(page, "import_airports_changelist")


def test_staff_user_without_import_permission_sees_no_import_button_and_gets_403(
    make_user, page_for, live_server
):
    page = page_for(make_user("vic", perms=("batches.view_import", "catalogue.view_airport")))
    ImportJob.objects.create(dataset="airports", original_name="earlier.csv")

    page.get_by_role("link", name="Import jobs").click()
    assert "earlier.csv" in page.locator("#result_list").inner_text()
    assert page.get_by_role("link", name="Import a CSV file").count() == 0
    page.goto("/admin/catalogue/airport/")
    # Nor an import link on the sample app's page (the sidebar lists the job pages).
    assert (
        page.locator("#content").get_by_role("link", name=re.compile("import", re.I)).count() == 0
    )

    response = page.goto("/admin/batches/importjob/upload/")
    assert response.status == 403
    assert "403" in page.inner_text("body") or "Forbidden" in page.inner_text("body")
    save_screenshot(page, "import_forbidden")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_an_image_saved_as_csv_is_named_for_what_it_is_on_the_upload_form(
    make_user, page_for, small_chunks, tmp_path, viewport
):
    screenshot = tmp_path / "table.csv"
    screenshot.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    page = page_for(make_user("ivy", perms=IMPORTER_PERMS), viewport=viewport)

    page.goto("/admin/batches/importjob/upload/")
    page.get_by_label("Dataset:").select_option(label="Airports (keyed by IATA code)")
    page.get_by_label("File:").set_input_files(screenshot)
    page.get_by_role("button", name="Upload and check").click()

    error = page.locator(".errorlist").inner_text()
    assert error == (
        "table.csv: this is a PNG image, not a CSV file: export the data itself as CSV "
        "(UTF-8) and upload that; a picture of a table cannot be imported"
    )
    assert "choose the file's encoding" not in page.inner_text("#content")
    assert not ImportJob.objects.exists()
    assert_fits_viewport(page)
    assert_accessible(page)
    save_screenshot(page, f"import_not_text_{viewport['width']}")


def _bar_width(page) -> float:
    """The bar's width in percent, read again after the reload the page makes by itself
    when the job finishes (a read that meets the reload loses its page)."""
    for _ in range(3):
        try:
            return float(page.locator("#bar").evaluate("bar => bar.style.width")[:-1])
        except PlaywrightError as error:
            if "context was destroyed" not in str(error):
                raise
            page.wait_for_load_state()
    return float(page.locator("#bar").evaluate("bar => bar.style.width")[:-1])
