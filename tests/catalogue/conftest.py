"""Fixtures for the sample domain's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

DATA_DIR = Path(settings.BASE_DIR) / "catalogue" / "data"


@pytest.fixture(autouse=True)
def imports_settings(settings, tmp_path):
    """A private media folder, and chunks small enough that a real file spans several."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMPORT_CHUNK_ROWS = 1000
    return settings


@pytest.fixture
def airports_csv() -> Path:
    return DATA_DIR / "airports.csv"
