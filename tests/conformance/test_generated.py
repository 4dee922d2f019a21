"""Hypothesis-generated files: import_data() and the platform agree on every one.

Cells are drawn from values each widget reads, values it refuses (each kind of
refusal), and values the database refuses; the files run by both ways through a real
worker in chunks of four rows. The example counts are kept small (each example is a
real import, a third of a second): derandomized, so every run tries the same files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance import resources
from tests.conformance.conftest import base_rows
from tests.conformance.harness import compare
from tests.conformance.models import Owner

pytestmark = [pytest.mark.slow]

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(" ,\"'=-\t"),
    max_size=24,
)
INTEGER = st.one_of(
    st.integers(-(10**11), 10**11).map(str),
    st.sampled_from(
        ["", " ", " 7 ", "3.7", "-0", "1e3", "abc", "M", "n/a", "2147483648", "\uff10\uff11"]
    ),
)
DECIMAL = st.one_of(
    st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False).map(str),
    st.sampled_from(["", "1e2", "NaN", "abc", "T", "12345.678", "-0.005", "99999.995", " 2.5"]),
)
FLOAT = st.sampled_from(["", "1.5", "1e300", "x", "-0", " 3 ", "1_000"])
BOOLEAN = st.sampled_from(["", "1", "0", "true", "TRUE", "True", "yes", "y", "no", "None", " 1"])
DAY = st.one_of(
    st.tuples(
        st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
        st.sampled_from(["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%Y-%-m-%-d"]),
    ).map(lambda pair: pair[0].strftime(pair[1])),
    st.sampled_from(["", " ", "2024-02-30", "x", "31.12.2024", "32.01.2024"]),
)


def _file(header: list[str], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[name] for name in header])
    return out.getvalue()


@st.composite
def gauge_rows(draw, columns: dict) -> list[dict]:
    count = draw(st.integers(1, 10))
    rows = []
    for index in range(count):
        row = {name: draw(strategy) for name, strategy in columns.items()}
        row["code"] = "G1" if index == 0 and draw(st.booleans()) else f"H{index}"
        rows.append(row)
    return rows


OWNER = st.sampled_from(["", "O1", "O2", "O3", "OX", "999999", "abc"])
PLAIN = {
    "name": TEXT, "count": INTEGER, "small": INTEGER, "amount": DECIMAL, "ratio": FLOAT,
    "active": BOOLEAN, "day": DAY, "note": TEXT, "owner": OWNER,
}  # fmt: skip
CUSTOM = {
    "name": TEXT, "count": INTEGER, "small": INTEGER, "amount": DECIMAL, "active": BOOLEAN,
    "day": DAY, "note": TEXT, "kind": st.sampled_from(["", "a", "b", "zz"]),
}  # fmt: skip
HOOKED = {"name": TEXT, "count": INTEGER, "amount": DECIMAL}
INSTANCE_HOOKED = {**HOOKED, "note": TEXT}
CLEANED = {
    "name": TEXT, "count": INTEGER, "amount": DECIMAL,
    "kind": st.sampled_from(["", "a", "b", "zz"]),
    "email": st.sampled_from(["", "a@example.com", "not-an-email", "x@y"]),
    "url": st.sampled_from(["", "https://example.com/a", "nope", "ftp://x.org"]),
    "score": st.sampled_from(["", "0", "100", "101", "-1", "50", "x"]),
}  # fmt: skip

RUN = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _owner_pks(rows: list[dict]) -> list[dict]:
    """The plain Resource reads owners by pk: the codes become this run's pks."""
    pks = {o.code: str(o.pk) for o in Owner._base_manager.all()}
    return [{**row, "owner": pks.get(row["owner"], row["owner"])} for row in rows]


def _compared(dataset, name: str, resource_class, columns: dict, rows: list[dict]) -> None:
    """Import the generated rows both ways (`compare` asserts they agree)."""
    dataset(name, resource_class)
    base_rows_once()
    if "owner" in columns:
        rows = _owner_pks(rows)
    compare(name, resource_class, _file(["code", *columns], rows), setup=base_rows)


@RUN
@given(rows=gauge_rows(PLAIN))
def test_generated_files_plain_fast_path(rows, celery_worker, dataset):
    _compared(dataset, "gen_plain", resources.GaugeResource, PLAIN, rows)


@RUN
@given(rows=gauge_rows(CUSTOM))
def test_generated_files_custom_widgets_fast_path(rows, celery_worker, dataset):
    _compared(dataset, "gen_custom", resources.GaugeCustomWidgetsResource, CUSTOM, rows)


@RUN
@given(rows=gauge_rows(HOOKED))
def test_generated_files_row_hooks_compatible_path(rows, celery_worker, dataset):
    _compared(dataset, "gen_hooked", resources.HookedGaugeResource, HOOKED, rows)


@RUN
@given(rows=gauge_rows(HOOKED))
def test_generated_files_row_hook_then_fast_path(rows, celery_worker, dataset):
    _compared(dataset, "gen_row_hook", resources.RowHookResource, HOOKED, rows)


@RUN
@given(rows=gauge_rows(INSTANCE_HOOKED))
def test_generated_files_fast_path_with_the_instance_hook(rows, celery_worker, dataset):
    _compared(dataset, "gen_instance_hook", resources.InstanceHookResource, INSTANCE_HOOKED, rows)


@RUN
@given(rows=gauge_rows(CLEANED))
def test_generated_files_full_clean_compatible_path(rows, celery_worker, dataset):
    _compared(dataset, "gen_cleaned", resources.CleanModelResource, CLEANED, rows)


def base_rows_once() -> None:
    """Owners exist before the file is drawn into pks (compare() resets the rest)."""
    if not Owner._base_manager.exists():
        base_rows()
