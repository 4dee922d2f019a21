"""Durations read the same on every admin page."""

from datetime import timedelta

import pytest

from common.display import duration_display


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        (timedelta(milliseconds=49.4), "49 ms"),
        (0.9996, "1.0 s"),
        (timedelta(seconds=12.34), "12.3 s"),
        (245, "4:05 min"),
        (timedelta(hours=1, minutes=2, seconds=5), "1:02:05"),
    ],
)
def test_durations_in_words(value, shown):
    assert duration_display(value) == shown
