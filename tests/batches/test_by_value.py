"""Converting a column's distinct values once per chunk: which widgets may, and the
DateTimeWidget lane giving the literal path's text.

The differential proof (the platform against import_data() on a file whose values
repeat in each chunk) is the conformance case `values_converted_once_per_chunk`.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from import_export import fields, widgets

from batches.cells import (
    FieldError,
    compile_converter,
    converts_by_value,
    literal_converter,
    once_per_value,
)
from batches.purity import pure_widget_refusal
from tests.conformance import resources as catalogue
from tests.conformance.models import Gauge, Owner
from tests.team import imports as team

PLACEHOLDERS = {"n/a"}
LOOKUP = {"a": 1}
counter = [0]


def helper(value):
    return value


class CountingWidget(widgets.IntegerWidget):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def clean(self, value, row=None, **kwargs):
        self.calls += 1
        return super().clean(value, row, **kwargs)


class RowGetWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        return row.get("other") or value


class RowNumberWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        return kwargs.get("row_number")


class HelperWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        return helper(value)


class MutatingGlobalWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        counter.append(value)
        return value


class RandomWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        return random.randint(0, 9)


class ItemAssigningWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        LOOKUP[value] = 1
        return value


def _closure_widget():
    seen = []

    class ClosureWidget(widgets.CharWidget):
        def clean(self, value, row=None, **kwargs):
            seen.append(value)
            return value

    return ClosureWidget()


class ReplacedRowWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        row = {"x": 1}
        return super().clean(value, row, **kwargs)


class PureHelpersWidget(widgets.DecimalWidget):
    """Constants, string methods, Decimal, a try and super(): all allowed."""

    def clean(self, value, row=None, **kwargs):
        text = value.strip().lower() if isinstance(value, str) else value
        if text in PLACEHOLDERS or text == self.coerce_to_string:
            return None
        try:
            return super().clean(text, row=row, **kwargs)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    def is_empty(self, value):
        return value in ("", None, "-") or super().is_empty(value)


class OwnWidget(widgets.Widget):
    pass


@pytest.mark.parametrize(
    "widget",
    [
        widgets.CharWidget(),
        widgets.Widget(),
        widgets.IntegerWidget(),
        widgets.DateTimeWidget(format="%d/%m/%Y %H:%M"),
        team.PlaceholderIntegerWidget(),
        team.PlaceholderCharWidget(),
        team.MissingDecimalWidget(),
        catalogue.PlaceholderIntegerWidget(),
        catalogue.UpperCharWidget(),
        catalogue.YesNoWidget(),
        catalogue.DayFirstDateWidget(),
        catalogue.BlankIsNoneWidget(),
        PureHelpersWidget(),
        ReplacedRowWidget(),  # the base clean() ignores the row it is handed
        OwnWidget(),
    ],
    ids=lambda w: type(w).__name__,
)
def test_widgets_whose_clean_depends_on_the_value_alone(widget):
    assert pure_widget_refusal(widget) is None


@pytest.mark.parametrize(
    ("widget", "word"),
    [
        (CountingWidget(), "assigns"),
        (RowGetWidget(), "'row'"),
        (RowNumberWidget(), "'kwargs'"),
        (catalogue.RowAwareWidget(), "'row'"),
        (catalogue.RowNumberWidget(), "'kwargs'"),
        (catalogue.OtherColumnWidget(), "'row'"),
        (HelperWidget(), "helper()"),
        (MutatingGlobalWidget(), ".append()"),
        (RandomWidget(), ".randint()"),
        (ItemAssigningWidget(), "assigns"),
        (_closure_widget(), "closure"),
        (widgets.ForeignKeyWidget(Owner, "code"), "library widget not known to be pure"),
        (catalogue.ActiveOwnerWidget(Owner, "code"), "library widget not known to be pure"),
        (widgets.ManyToManyWidget(Owner), "library widget not known to be pure"),
        (widgets.JSONWidget(), "library widget not known to be pure"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_widgets_that_may_depend_on_more_are_refused(widget, word):
    refusal = pure_widget_refusal(widget)
    assert refusal is not None
    assert word in refusal, refusal


def test_a_field_with_its_own_clean_or_a_callable_default_converts_cell_by_cell():
    widget = widgets.IntegerWidget()
    assert converts_by_value(fields.Field(attribute="count", column_name="count", widget=widget))
    assert not converts_by_value(catalogue.TrimmedField(attribute="name", column_name="name"))
    assert not converts_by_value(
        fields.Field(attribute="count", column_name="count", widget=widget, default=lambda: 3)
    )
    assert converts_by_value(
        fields.Field(attribute="count", column_name="count", widget=widget, default=3)
    )


def test_once_per_value_keeps_answers_and_problems():
    calls = []

    def convert(value, cells, index):
        calls.append(value)
        if value == "bad":
            raise FieldError("'bad' is not a whole number", "invalid")
        return value.upper()

    once = once_per_value(convert)
    assert [once(v, [], 1) for v in ("a", "a", "b")] == ["A", "A", "B"]
    for _ in range(2):
        with pytest.raises(FieldError) as caught:
            once("bad", [], 1)
        assert (str(caught.value), caught.value.kind) == ("'bad' is not a whole number", "invalid")
    assert calls == ["a", "b", "bad"]


DATETIMES = [
    "05/03/2024 14:07", "31/12/2024 23:59", "29/02/2024 00:00", "29/02/2023 00:00",
    "31/02/2024 10:00", "1/2/2024 9:05", "01/02/2024  09:05", "24/01/2024 24:00",
    "01/13/2024 10:00", "00/01/2024 10:00", "2024-01-02 03:04", "", " ", "n/a",
    "05/03/2024 14:07 ", " 05/03/2024 14:07", "05/03/0001 00:00", "05/03/9999 23:59",
    "١٢/03/2024 14:07", "05/03/2024 14:60",
]  # fmt: skip


@pytest.mark.parametrize("format_", ["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%S", "%m/%d/%Y"])
def test_the_datetime_lane_gives_the_literal_paths_text(format_):
    model_field = Gauge._meta.get_field("seen_at")
    field = fields.Field(
        attribute="seen_at", column_name="seen_at", widget=widgets.DateTimeWidget(format=format_)
    )
    header = ["seen_at"]
    fast = compile_converter(field, model_field, header)
    literal = literal_converter(field, model_field, header)
    rng = random.Random(3)
    values = DATETIMES + [
        f"{rng.randint(1, 31):02d}/{rng.randint(1, 12):02d}/{rng.randint(1900, 2100)} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
        for _ in range(300)
    ]
    for value in values:
        expected = _outcome(literal, value)
        assert _outcome(fast, value) == expected, value


def test_a_pure_custom_widget_column_gives_the_literal_paths_text():
    model_field = Gauge._meta.get_field("amount")
    field = fields.Field(
        attribute="amount", column_name="amount", widget=team.MissingDecimalWidget()
    )
    fast = compile_converter(field, model_field, ["amount"])
    literal = literal_converter(field, model_field, ["amount"])
    values = [
        "1.5",
        "1.5",
        "M",
        "m",
        "T",
        "",
        "abc",
        "abc",
        "99999.999",
        " 2 ",
        str(Decimal("1e2")),
    ]
    for value in values * 2:
        assert _outcome(fast, value) == _outcome(literal, value), value


def _outcome(convert, value):
    try:
        return convert(value, [value], 1)
    except FieldError as exc:
        return ("problem", str(exc), exc.kind)


# --- whole-column lanes ---------------------------------------------------------------

LANE_COLUMNS = [
    ("count", widgets.IntegerWidget()),  # IntegerField
    ("small", widgets.IntegerWidget()),  # PositiveSmallIntegerField
    ("amount", widgets.DecimalWidget()),  # max_digits 7, 2 places
    ("ratio", widgets.FloatWidget()),
    ("name", widgets.CharWidget()),  # max_length 20
    ("note", widgets.Widget()),  # TextField
    ("seen_at", widgets.DateTimeWidget(format="%d/%m/%Y %H:%M")),
]
LANE_WORDS = [
    "0", "-0", "+5", "007", "1", "-1", "12", "999999999", "2147483647", "2147483648",
    "32767", "32768", "1.5", "-0.01", "99999.99", "99999.999", "1e3", "\u0663", "\uff11",
    "", " ", "a", "a\tb", "a\\b", "a\nb", "a\rb", "a\x00b", "x" * 20, "x" * 21, "n/a",
    "05/03/2024 14:07", "31/02/2024 10:00", "29/02/2023 00:00", "01/01/0001 00:00",
    "00/01/2024 10:00", "05/03/2024 24:00", "5/3/2024 14:07", "05/03/2024 14:07\n",
]  # fmt: skip
lane_values = st.lists(
    st.one_of(
        st.sampled_from(LANE_WORDS),
        st.integers(-(10**11), 10**11).map(str),
        st.decimals(-(10**6), 10**6, places=3, allow_nan=False).map(str),
        st.text(max_size=8),
        st.builds(
            "{:02d}/{:02d}/{:04d} {:02d}:{:02d}".format,
            st.integers(0, 32),
            st.integers(0, 13),
            st.integers(0, 2100),
            st.integers(0, 24),
            st.integers(0, 60),
        ),
    ),
    min_size=1,
    max_size=30,
)


@pytest.mark.parametrize(("name", "widget"), LANE_COLUMNS, ids=[n for n, _ in LANE_COLUMNS])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=lane_values)
def test_a_column_lane_gives_each_cells_text_or_steps_aside(name, widget, values):
    """The oracle is the converter cell by cell: a column lane either gives exactly its
    text for every value or returns None (then the cells are converted one by one)."""
    model_field = Gauge._meta.get_field(name)
    field = fields.Field(attribute=name, column_name=name, widget=widget)
    convert = compile_converter(field, model_field, [name])
    texts = convert.column(values)
    if texts is None:
        return
    assert texts == [_outcome(convert, value) for value in values]


@pytest.mark.parametrize(("name", "widget"), LANE_COLUMNS, ids=[n for n, _ in LANE_COLUMNS])
def test_a_column_of_plain_values_takes_the_lane(name, widget):
    plain = {
        "count": ["1", "-12", "0", "999999999"], "small": ["0", "1", "9999"],
        "amount": ["1.50", "-3", "99999.99"], "ratio": ["1.5", "-2", "0"],
        "name": ["a b", "x" * 20], "note": ["a note", "b\tc"],
        "seen_at": ["05/03/2024 14:07", "29/02/2024 00:00"],
    }[name]  # fmt: skip
    field = fields.Field(attribute=name, column_name=name, widget=widget)
    convert = compile_converter(field, Gauge._meta.get_field(name), [name])
    assert convert.column(plain) == [_outcome(convert, value) for value in plain]
