"""The sample domain's real-data dataset with a custom widget, a row hook and auto_now_add."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import tablib
from django.conf import settings
from django.core.management import call_command

from batches import registry
from catalogue.models import WeatherDay
from catalogue.resources import WeatherResource
from tests.batches.conftest import run_inline
from tests.conformance.harness import table
from tests.support.imports import make_job

SEATTLE = Path(settings.BASE_DIR) / "catalogue" / "data" / "seattle-weather.csv"


def test_the_weather_dataset_takes_the_fast_path_after_its_row_hook_and_says_why():
    dataset = registry.get("seattle_weather")

    assert dataset.path == "fast after the row hook"
    assert "before_import_row() only rewrites its own row" in dataset.profile.explanation


@pytest.mark.slow
def test_the_real_seattle_file_imports_every_row_from_the_command_line_and_again_nothing(
    celery_worker,
):
    out = io.StringIO()
    call_command("import_csv", "seattle_weather", str(SEATTLE), "--wait", stdout=out)

    assert "1,461 rows, 1,461 new, 0 updated, 0 unchanged, 0 rejected" in out.getvalue()
    first = WeatherDay.objects.get(day="2012-01-01")
    assert (str(first.temp_max), first.weather) == ("12.8", "drizzle")
    assert not WeatherDay.objects.filter(imported_at__isnull=True).exists()
    stamps = dict(WeatherDay.objects.values_list("day", "imported_at"))

    out = io.StringIO()
    call_command("import_csv", "seattle_weather", str(SEATTLE), "--wait", stdout=out)

    assert "1,461 rows, 0 new, 0 updated, 1,461 unchanged, 0 rejected" in out.getvalue()
    assert dict(WeatherDay.objects.values_list("day", "imported_at")) == stamps


@pytest.mark.django_db
def test_the_weather_file_imports_as_import_data_imports_it():
    text = (
        SEATTLE.read_text()
        .replace("2012/01/02,10.9", "2012/01/02,T")
        .replace(",rain\n", ",Rain \n", 5)
    )
    WeatherResource().import_data(tablib.Dataset().load(text, format="csv"), use_transactions=False)
    expected = table(WeatherDay, ["day"])
    WeatherDay.objects.all().delete()

    job = run_inline(make_job("seattle_weather", text, name="seattle-weather.csv"))

    assert (job.status, job.rows_new) == ("succeeded", 1461)
    assert table(WeatherDay, ["day"]) == expected
    assert str(WeatherDay.objects.get(day="2012-01-02").precipitation) == "0.0"  # "T"
    assert set(WeatherDay.objects.values_list("weather", flat=True)) == {
        "drizzle", "rain", "sun", "snow", "fog",
    }  # fmt: skip
