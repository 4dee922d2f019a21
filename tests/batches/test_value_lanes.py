"""The compatible path's value lanes give what the widget's clean() gives, or step aside.

The oracle is the widget itself, on the same text (Hypothesis). A lane may answer
SLOW for anything; when it answers, the value, its type and its text (a Decimal's
exponent, a datetime's zone) are the widget's.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from import_export import fields, widgets

from batches.cells import compile_converter, plain_numbers
from batches.purity import clean_once_per_value
from batches.valuelanes import SLOW, value_lane
from tests.conformance.models import Gauge

WIDGETS = [
    widgets.Widget(),
    widgets.CharWidget(),
    widgets.IntegerWidget(),
    widgets.DecimalWidget(),
    widgets.DateWidget(),
    widgets.DateWidget("%d/%m/%Y"),
    widgets.DateTimeWidget(),
    widgets.DateTimeWidget("%d/%m/%Y %H:%M"),
    widgets.DateTimeWidget("%Y-%m-%dT%H:%M:%S"),
]

_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=20)
_NUMBERS = st.builds(
    lambda sign, whole, fraction: f"{sign}{whole}{fraction}",
    st.sampled_from(["", "-", "+", " "]),
    _DIGITS,
    st.one_of(st.just(""), st.builds(lambda d: f".{d}", _DIGITS), st.just("e3"), st.just(",5")),
)
_DATES = st.builds(
    lambda y, m, d, hh, mm, ss, shape: shape.format(y=y, m=m, d=d, hh=hh, mm=mm, ss=ss),
    st.integers(0, 10000),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from([
        "{y:04d}-{m:02d}-{d:02d}", "{d:02d}/{m:02d}/{y:04d}", "{d}/{m}/{y}",
        "{d:02d}/{m:02d}/{y:04d} {hh:02d}:{mm:02d}", "{y:04d}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}",
        "{y:04d}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}", "{d:02d}/{m:02d}/{y:04d}  {hh:02d}:{mm:02d}",
    ]),
)  # fmt: skip
CELLS = st.one_of(_NUMBERS, _DATES, st.text(max_size=12), st.sampled_from(["", " ", "n/a"]))


def _same(answer, expected) -> None:
    assert type(answer) is type(expected)
    assert answer == expected
    assert str(answer) == str(expected)  # a Decimal's exponent, a datetime's zone
    assert getattr(answer, "tzinfo", None) == getattr(expected, "tzinfo", None)


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: f"{type(w).__name__}{w.__dict__}")
@given(cell=CELLS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_lane_answers_what_the_widget_answers(widget, cell):
    lane = value_lane(widget)
    assert lane is not None
    answer = lane(cell)
    if answer is SLOW:
        return
    _same(answer, widget.clean(cell))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_a_datetime_is_made_aware_in_the_current_time_zone_as_the_widget_does(settings, zone):
    settings.TIME_ZONE = zone
    widget = widgets.DateTimeWidget("%d/%m/%Y %H:%M")
    for cell in ["01/07/2024 12:30", "31/03/2024 02:30", "27/10/2024 02:30"]:
        _same(value_lane(widget)(cell), widget.clean(cell))


def test_subclasses_and_a_method_set_on_the_widget_have_no_lane():
    class Upper(widgets.CharWidget):
        def clean(self, value, row=None, **kwargs):
            return value.upper()

    patched = widgets.DecimalWidget()
    patched.clean = lambda value, row=None, **kwargs: Decimal(0)

    assert value_lane(Upper()) is None
    assert value_lane(patched) is None
    assert value_lane(widgets.BooleanWidget()) is None
    assert value_lane(widgets.DateWidget("%d %B %Y")) is None  # a month's name: not fixed


def test_a_language_whose_thousands_separator_is_a_dot_takes_no_number_lane(settings):
    """German with thousands separators reads "1.500" as 1500: the lanes step aside,
    on the compatible path and on the fast path, and the widget decides."""
    settings.USE_THOUSAND_SEPARATOR = True
    field = fields.Field(attribute="amount", column_name="amount", widget=widgets.DecimalWidget())
    model_field = Gauge._meta.get_field("amount")
    with translation.override("de"):
        assert not plain_numbers()
        assert value_lane(widgets.DecimalWidget()) is None
        assert value_lane(widgets.IntegerWidget()) is None
        assert widgets.DecimalWidget().clean("1.500") == Decimal("1500")
        assert compile_converter(field, model_field, ["amount"])("1.500", ["1.500"], 0) == "1500"
    with translation.override("en"):
        assert plain_numbers()
        assert compile_converter(field, model_field, ["amount"])("1.500", ["1.500"], 0) == "1.500"


@pytest.mark.parametrize(
    ("widget", "cell"),
    [
        (widgets.IntegerWidget(), "-42"),
        (widgets.DecimalWidget(), "12.50"),
        (widgets.CharWidget(), " as written "),
        (widgets.DateWidget("%d/%m/%Y"), "29/02/2024"),
        (widgets.DateTimeWidget("%d/%m/%Y %H:%M"), "29/02/2024 23:59"),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, str) else x,
)
def test_plain_cells_are_answered_by_the_lane_itself(widget, cell):
    answer = value_lane(widget)(cell)

    assert answer is not SLOW
    _same(answer, widget.clean(cell))


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: f"{type(w).__name__}{w.__dict__}")
@pytest.mark.parametrize("default", [fields.NOT_PROVIDED, "7"], ids=["no default", "default"])
@given(cells=st.lists(CELLS, min_size=1, max_size=6))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_field_clean_once_per_value_with_a_lane_is_field_clean(widget, default, cells):
    """The compatible path's Field.clean (the key's fields, a Resource's own
    import_field): once per value, a new text cell read by the lane."""
    field = fields.Field(attribute="x", column_name="x", widget=widget, default=default)
    ours = clean_once_per_value(field, lane=value_lane(widget), slow=SLOW)
    for cell in cells + cells:  # each value again: the kept answer
        row = {"x": cell}
        try:
            expected = ("value", field.clean(row))
        except Exception as exc:
            expected = ("error", type(exc).__name__, str(exc))
        try:
            got = ("value", ours(row))
        except Exception as exc:
            got = ("error", type(exc).__name__, str(exc))
        assert got[0] == expected[0]
        if got[0] == "value":
            _same(got[1], expected[1])
        else:
            assert got == expected
