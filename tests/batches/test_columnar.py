"""The columnar reader (Arrow) against the row reader it stands in for.

Two oracles: `csv.reader` for the cells of a chunk's bytes, and `HeaderPlan.validate`
(itself held to import_data() by the conformance suite) for the COPY text, row numbers
and keys of a whole chunk. Where the columnar reader answers, it answers the same;
where it cannot be sure, it answers None and the row reader runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from batches import registry
from batches.cells import DayAndTime, _datetime_column
from batches.columnar import _lane_texts, columnar_rows, read_columns
from batches.csvfiles import records_in
from tests.team.models import Store

FIRST_ROW = 2  # the header is row 1

# --- cells: Arrow's CSV reader against csv.reader --------------------------------------


def _python_rows(data: bytes, delimiter: str) -> list[list[str]]:
    text = data.decode("utf-8")
    return [cells for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(
    text=st.text(alphabet=list('ab é"\n,;\t|\r\x00\ufeff'), min_size=1, max_size=30),
    delimiter=st.sampled_from(",;\t|"),
)
@example(text='"a""b",c\n"x\ny",z\n', delimiter=",")
@example(text='"ab"c,d\na"b,"e"\n', delimiter=",")
@example(text='a,"b\n', delimiter=",")
@example(
    text='a,b\r\nc,"d\r\ne"\re,f\r', delimiter=","
)  # a quote left open at the end: both read "b\n"
def test_where_arrow_reads_a_chunk_it_reads_every_cell_as_csv_reader_does(text, delimiter):
    data = text.encode()
    rows = _python_rows(data, delimiter)
    width = len(rows[0]) if rows else 1
    columns = read_columns(data, width=width, encoding="utf-8", delimiter=delimiter)
    if columns is None:
        return
    arrow_rows = [list(cells) for cells in zip(*(c.to_pylist() for c in columns), strict=True)]
    assert arrow_rows == rows


@pytest.mark.parametrize(
    ("data", "encoding", "why"),  # two columns each
    [
        (b"a,b\r\n\r\nc,d\r\n", "utf-8", "a blank line between CR LF line ends"),
        (b"a,b\r\rc,d\r", "utf-8", "a blank line between CR line ends"),
        (b"a,b\n\nc,d\n", "utf-8", "a blank line, which csv.reader numbers"),
        (b"\na,b\n", "utf-8", "a blank first line"),
        (b"a,b\nc\n", "utf-8", "a row with another number of fields"),
        (b"a,\x00\n", "utf-8", "a NUL byte"),
        (b"a,\xe9\n", "utf-8", "bytes that are not UTF-8"),
        (b"a,\xe9\n", "latin-1", "another encoding"),
        (b"\xef\xbb\xbfa,b\n", "utf-8", "a byte order mark"),
        (b"", "utf-8", "nothing"),
    ],
)
def test_arrow_leaves_to_csv_reader_every_chunk_they_might_read_differently(data, encoding, why):
    assert read_columns(data, width=2, encoding=encoding, delimiter=",") is None, why


def test_arrow_leaves_a_cell_longer_than_csv_readers_limit_to_it():
    data = b"a," + b"x" * (csv.field_size_limit() + 1) + b"\n"
    assert read_columns(data, width=2, encoding="utf-8", delimiter=",") is None


def test_arrow_leaves_a_one_column_file_to_csv_reader():
    # A blank line would be a row of one empty cell, which csv.reader skips.
    assert read_columns(b"a\nb\n", width=1, encoding="utf-8", delimiter=",") is None


# --- the datetime lane: one Arrow match and cut against the Python lane ------------------------


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    format_=st.sampled_from(
        [
            "%Y-%m-%d %H:%M:%S",
            "%d/%m/%Y %H:%M",
            "%d.%m.%Y",
            "%Y%m%d%H%M",
            "%m-%d-%Y %H.%M",
            # Literals of several bytes: the cut places count characters, as Python's do.
            "%d.%m.%Y \u0433. %H \u0447.",
            "%Y年%m月%d日 %H時%M分",
        ]
    ),
    moments=st.lists(st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)), min_size=1),
    odd=st.sampled_from(["", "31/02/2024 10:00", "2024-02-30 00:00:00", "1/2/2024", "x"]),
    with_odd=st.booleans(),
)
def test_the_datetime_cut_gives_the_python_lanes_texts_or_steps_aside(
    format_, moments, odd, with_odd
):
    import pyarrow as pa

    values = [moment.strftime(format_) for moment in moments] + ([odd] if with_odd else [])
    python = _datetime_column(format_)(values)  # type: ignore[misc]
    arrow = _lane_texts(DayAndTime(format_), pa.array(values, pa.string()))
    assert (arrow.to_pylist() if arrow is not None else None) == python


# --- whole chunks: columnar_rows against HeaderPlan.validate ---------------------------

HEADER = ["order", "line", "store", "sku", "description", "quantity", "unit_price",
          "discount", "tax", "total", "ordered_on", "shipped_at", "status", "channel",
          "region", "priority", "boxes", "weight_kg", "note"]  # fmt: skip


ODD = st.sampled_from(["", " ", "n/a", "N/A", "x", "-0", "1e3", "\\", "a\tb", "é", " 1"])
TEXT = st.text(alphabet=list("ab ,\"'\\\t\né="), max_size=12)
# Each column: (a plain value, the columnar reader's case; an odd one).
WHOLE = (st.integers(-30_000, 30_000).map(str), ODD)
DECIMAL = (
    st.decimals(min_value=-999, max_value=999, places=2, allow_nan=False).map(str),
    st.sampled_from(["12.345", "1e2", "NaN", "007.50", "-0.00", "99999999.99", ""]),
)
WORD = (st.sampled_from(["open", "web", "north", "kit", "lamp oak"]), ODD)
STAMP = (
    st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2060, 12, 31)).map(
        lambda d: d.strftime("%d/%m/%Y %H:%M")
    ),
    st.sampled_from(["31/02/2026 10:00", "1/2/2026 10:00", "2026-02-01 10:00", "", "n/a"]),
)
DAY = (
    st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)).map(dt.date.isoformat),
    st.sampled_from(["2026-02-30", "01/02/2026", "2026-2-1", ""]),
)
ORDER_LINE = [
    (st.sampled_from(["ST1", "ST2", "ST3"]), ODD),
    (st.sampled_from(["SKU-1", "SKU-2"]), TEXT),
    (TEXT, ODD),
    WHOLE,
    DECIMAL,
    DECIMAL,
    DECIMAL,
    DECIMAL,
    DAY,
    STAMP,
    WORD,
    WORD,
    WORD,
    WHOLE,
    WHOLE,
    DECIMAL,
    (TEXT, ODD),
]  # fmt: skip (the columns after the key, in HEADER's order)


@st.composite
def chunks(draw, columns, key) -> list[list[str]]:
    """Rows of plain values, with odd ones in a share of the cells that varies per chunk
    (none in about half the chunks), and keys that sometimes repeat."""
    odd_percent = draw(st.sampled_from([0, 0, 1, 5, 20]))
    rows = []
    for index in range(draw(st.integers(1, 25))):
        cells = key(index if draw(st.integers(0, 30)) else 0)
        for plain, odd in columns:
            cells.append(draw(odd if draw(st.integers(0, 99)) < odd_percent else plain))
        rows.append(cells)
    return rows


def _chunk(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _both(dataset_name: str, data: bytes, *, header: list[str], first_index: int = 1):
    plan = registry.get(dataset_name).spec.plan(header)
    columnar = columnar_rows(
        plan, data, first_row=FIRST_ROW, first_index=first_index, encoding="utf-8", delimiter=","
    )
    records, undecodable = records_in(
        data, offset=0, first_row=FIRST_ROW, encoding="utf-8", delimiter=","
    )
    assert not undecodable
    return columnar, plan.validate(records, first_index=first_index)


def _assert_same(columnar, rows) -> None:
    assert rows.rejected == []
    assert columnar.lines == rows.lines
    assert columnar.line_rows == rows.line_rows
    assert columnar.line_keys == rows.line_keys
    assert columnar.seen == rows.seen


@pytest.fixture
def stores(db):
    Store.objects.bulk_create([Store(code=f"ST{n}", name=f"Store {n}") for n in (1, 2, 3)])


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=chunks(ORDER_LINE, lambda i: [str(1000 + i // 3), str(i % 3 + 1)]))
def test_a_teams_chunk_read_by_columns_is_the_chunk_validate_gives_or_left_to_it(rows, stores):
    columnar, validated = _both("team_order_lines", _chunk(rows), header=HEADER)
    event("read by columns" if columnar is not None else "left to validate")
    if columnar is not None:
        _assert_same(columnar, validated)


PLAIN_LINES = [
    ["5000001", "1", "ST1", "SKU-00042", "blue steel kit, 3 pcs", "12", "10.50", "0.00",
     "25.20", "151.20", "2026-03-04", "06/03/2026 14:05", "open", "web", "north", "n/a", "3",
     "1.250", ""],
    ["5000001", "2", "ST2", "SKU-00043", 'a "quoted" word\tand a \\ slash', "n/a", "0.99",
     "15.00", "0.16", "0.98", "2026-12-31", "31/12/2026 23:59", "n/a", "store", "n/a", "5",
     "n/a", "40.000", "call before delivery,\ngate 4"],
    ["5000002", "1", "ST3", "SKU-1", "é", "-3", "-1.00", "5.00", "0.00", "-1.00", "2027-02-28",
     "28/02/2027 00:00", "returned", "n/a", "export", "1", "30", "0.001", "n"],
]  # fmt: skip


def test_a_plain_team_chunk_with_placeholders_quotes_and_escapes_is_read_by_columns(stores):
    columnar, validated = _both("team_order_lines", _chunk(PLAIN_LINES), header=HEADER)
    assert columnar is not None, "the plain case takes the columnar reader"
    _assert_same(columnar, validated)
    assert validated.lines[1].split("\t")[4] == 'a "quoted" word\\tand a \\\\ slash'


@pytest.mark.parametrize(
    ("row", "change"),
    [
        (0, {"store": "ST9"}),  # no such store: validate words the problem
        (1, {"line": "1"}),  # the same key twice: validate keeps the first
        (2, {"shipped_at": "29/02/2027 10:00"}),  # no such day
        (2, {"quantity": "many"}),  # a custom widget refuses it
        (0, {"sku": "S" * 21}),  # longer than the field
        (0, {"store": ""}),  # no store, which the field needs
    ],
)
def test_a_team_chunk_with_a_problem_is_left_to_validate(row, change, stores):
    rows = [list(cells) for cells in PLAIN_LINES]
    for name, value in change.items():
        rows[row][HEADER.index(name)] = value
    columnar, validated = _both("team_order_lines", _chunk(rows), header=HEADER)
    assert validated.rejected
    assert columnar is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sku", ""),  # empty: not the text lane, but converted once as a value
        ("unit_price", "10.505"),  # more places than the field: rounded, once as a value
        ("ordered_on", "2026-2-1"),  # DateWidget reads it; converted once as a value
        ("shipped_at", "6/3/2026 14:05"),  # strptime reads it; the datetime lane does not
    ],
)
def test_a_team_chunk_off_a_lane_is_the_same_or_left_to_validate(name, value, stores):
    rows = [list(cells) for cells in PLAIN_LINES]
    rows[0][HEADER.index(name)] = value
    columnar, validated = _both("team_order_lines", _chunk(rows), header=HEADER)
    assert not validated.rejected
    if columnar is not None:
        _assert_same(columnar, validated)


SALES_HEADER = ["day", "store_code", "sku", "units", "unit_price", "discount", "revenue",
                "currency"]  # fmt: skip


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    rows=chunks(
        [
            (st.sampled_from(["S1", "S2"]), ODD),
            (st.sampled_from(["SKU-1", "SKU-2"]), ODD),
            WHOLE,
            DECIMAL,
            DECIMAL,
            DECIMAL,
            (st.just("EUR"), st.sampled_from(["", "EURO", "u"])),
        ],
        lambda i: [(dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat()],
    )
)
def test_our_sample_files_chunk_read_by_columns_is_the_chunk_validate_gives(rows):
    columnar, validated = _both("daily_sales", _chunk(rows), header=SALES_HEADER)
    event("read by columns" if columnar is not None else "left to validate")
    if columnar is not None:
        _assert_same(columnar, validated)
