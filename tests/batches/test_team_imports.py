"""A team's own models and Resources, imported through the command line.

`tests/team`: `Reading` fills `created` (auto_now_add), `updated` (auto_now), `reference`
(uuid4) and `received_at` (timezone.now) itself; its Resource reads NOAA's "M" and "T"
with widget subclasses and normalises codes in `before_import_row`. The file is the
real Seattle weather data (catalogue/data/seattle-weather.csv) with a station column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import tablib
from django.conf import settings
from django.core.management import call_command

from batches.models import ImportJob
from tests.team.imports import ReadingResource
from tests.team.models import Reading, Station

pytestmark = [pytest.mark.slow]

SEATTLE = Path(settings.BASE_DIR) / "catalogue" / "data" / "seattle-weather.csv"


def readings_file(*, damage: dict[int, dict[str, str]] | None = None) -> str:
    """The Seattle file as the team receives it: a station column, NOAA placeholders."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    with SEATTLE.open(newline="") as source:
        for number, record in enumerate(csv.DictReader(source), start=2):
            row = {
                "station": " sea " if number % 3 else "SEA",
                "date": record["date"],
                "temp_max": record["temp_max"],
                "temp_min": record["temp_min"],
                "precipitation": "T" if number % 50 == 0 else record["precipitation"],
                "wind": record["wind"],
                "snow_depth": "M" if number % 7 else str(number % 5),
                "weather": record["weather"].upper() if number % 2 else record["weather"],
            }
            row.update((damage or {}).get(number, {}))
            if number == 2:
                writer.writerow(list(row))
            writer.writerow(list(row.values()))
    return out.getvalue()


def import_csv(path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_csv", "team_readings", str(path), "--wait", *args, stdout=out,
                     stderr=err)  # fmt: skip
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def station(transactional_db):
    return Station.objects.create(code="SEA", name="Seattle-Tacoma")


def test_every_reading_imports_from_the_command_line_and_again_writes_nothing(
    celery_worker, station, tmp_path
):
    path = tmp_path / "readings.csv"
    path.write_text(readings_file())

    code, out, _ = import_csv(path)

    assert code == 0, out
    assert "1,461 rows, 1,461 new, 0 updated, 0 unchanged, 0 rejected" in out
    assert Reading.objects.count() == 1461
    first = Reading.objects.get(day="2012-01-01")
    assert (first.station, str(first.temp_max), first.weather) == (station, "12.8", "drizzle")
    assert Reading.objects.filter(snow_depth__isnull=True).count() > 1000
    assert str(Reading.objects.get(day="2012-02-18").precipitation) == "0.0"  # "T", a trace
    assert Reading.objects.filter(temp_min__lt=0).exists()
    assert Reading.objects.values("reference").distinct().count() == 1461  # uuid4 per row
    assert not Reading.objects.filter(created__isnull=True).exists()
    assert not Reading.objects.filter(received_at__isnull=True).exists()
    before = dict(Reading.objects.values_list("id", "updated"))

    code, out, _ = import_csv(path)

    assert code == 0, out
    assert "1,461 rows, 0 new, 0 updated, 1,461 unchanged, 0 rejected" in out
    assert dict(Reading.objects.values_list("id", "updated")) == before  # nothing written


def test_the_team_file_imports_as_import_data_imports_it(celery_worker, station, tmp_path):
    """Import the same file by import_data() and by the command line: same table."""
    from tests.conformance.harness import table

    text = readings_file(damage={5: {"temp_max": "abc"}, 9: {"date": "2012/02/30"}})
    dataset = tablib.Dataset().load(text, format="csv")
    result = ReadingResource().import_data(dataset, use_transactions=False)
    expected = table(Reading, ["station_id", "day"])
    Reading.objects.all().delete()
    path = tmp_path / "readings.csv"
    path.write_text(text)

    code, _, _ = import_csv(path)

    assert code == 3  # partially failed
    assert table(Reading, ["station_id", "day"]) == expected
    job = ImportJob.objects.latest("id")
    rejected_by_import_data = {r.number + 1 for r in result.invalid_rows} | {
        n + 1 for n, _ in result.row_errors()
    }
    assert set(job.row_errors.values_list("row_number", flat=True)) == rejected_by_import_data
    assert rejected_by_import_data == {5, 9}


def test_the_rejected_rows_file_corrected_imports_again_as_it_is(celery_worker, station, tmp_path):
    path = tmp_path / "readings.csv"
    path.write_text(readings_file(damage={14: {"temp_max": "abc"}, 7: {"date": "2012/02/30"}}))
    errors = tmp_path / "rejected.csv"

    code, _, _ = import_csv(path, "--errors-to", str(errors))

    assert code == 3  # partially failed
    rejected = list(csv.reader(errors.open(newline="", encoding="utf-8")))
    assert rejected[0][:4] == ["row", "error", "station", "date"]
    assert [line[0] for line in rejected[1:]] == ["7", "14"]
    assert rejected[2][5] == "-2.8"  # temp_min of 2012/01/13: a number, not "'-2.8"
    rejected[1][3] = "2012/01/06"  # the corrections, made in the file as it came
    rejected[2][4] = "5.0"
    corrected = tmp_path / "corrected.csv"
    with corrected.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rejected)

    code, out, _ = import_csv(corrected)

    assert code == 0, out
    assert "2 rows, 2 new, 0 updated, 0 unchanged, 0 rejected" in out
    assert Reading.objects.count() == 1461
    assert str(Reading.objects.get(day="2012-01-13").temp_min) == "-2.8"
