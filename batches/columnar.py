"""The fast path's columnar reader: a chunk parsed and converted in Apache Arrow.

`HeaderPlan.validate` reads a chunk with `csv.reader` and converts it a column at a
time with Python's regular expressions and string joins; for a wide file that Python
work is most of a chunk's cost. Here Arrow's CSV reader and compute functions (C++)
do the same steps on the chunk's bytes, and give exactly the same `ValidatedRows`,
or None, and then `validate` reads the chunk as before. None whenever anything is
not the plain case both read alike:

- the bytes: UTF-8 (what Python decodes, without a byte order mark), no NUL, no
  blank line (which `csv.reader` numbers and skips), every row with the header's
  number of fields (Arrow refuses the rest), at least two of them, no cell longer
  than `csv.field_size_limit()` (which `csv.reader` refuses); lines may end in LF,
  CR LF or CR, which both readers read alike;
- the columns: each converted whole by its lane's `batches.cells` shape (a pattern
  every value matches, non-empty text within a length, a datetime format, foreign
  keys every one of which was found), or, for a column that converts by value, by
  calling its converter once per distinct value, which must refuse none;
- the rows: every key distinct, and the model's other fields constants.

So a chunk with a bad cell, a duplicate key or an odd byte goes through `validate`,
which finds and words every problem as import_data() would.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import logging
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv

from batches.cells import (
    Answers,
    Converter,
    DayAndTime,
    FieldError,
    Matching,
    Text,
    datetime_iso_cut,
)
from batches.rows import HeaderPlan, ValidatedRows

logger = logging.getLogger(__name__)

_ESCAPED = r"[\\\t\n\r]"
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def columnar_rows(
    plan: HeaderPlan,
    data: bytes,
    *,
    first_row: int,
    first_index: int,
    encoding: str,
    delimiter: str,
) -> ValidatedRows | None:
    """The chunk `data` validated as `plan.validate` would, or None (see the module)."""
    if any(implicit.constant is None for implicit in plan.implicit):
        return None
    try:
        columns = read_columns(data, width=len(plan.header), encoding=encoding, delimiter=delimiter)
        if columns is None or not len(columns[0]):
            return None
        return _validated(plan, columns, first_row=first_row, first_index=first_index)
    except pa.ArrowException:
        # Not a problem of the file's (Arrow refused a pattern or a size): the row
        # reader reads the chunk, and says so if the file is at fault.
        logger.warning("columnar reader refused a chunk; reading it row by row", exc_info=True)
        return None
    finally:
        # The chunk's arrays are freed by now; the allocator would keep their pages for
        # the next chunk, half again the worker's memory.
        pa.default_memory_pool().release_unused()


def _validated(
    plan: HeaderPlan, columns: list[pa.StringArray], *, first_row: int, first_index: int
) -> ValidatedRows | None:
    converters = plan.converters(_DistinctValues(columns))
    first_cells = [column[0].as_py() for column in columns]
    texts = []
    for (position, _), convert in zip(plan.present, converters, strict=True):
        converted = _column_texts(convert, columns[position], first_cells, first_index)
        if converted is None:
            return None
        texts.append(converted)
    keys = [texts[i] for i in plan.key_positions]
    key_texts = keys[0] if len(keys) == 1 else pc.binary_join_element_wise(*keys, "\x1f")
    rows = len(key_texts)
    if pc.count_distinct(key_texts).as_py() != rows:
        return None  # two rows share a key: `validate` decides which is kept
    constants = [implicit.constant for implicit in plan.implicit]
    lines = pc.binary_join_element_wise(*texts, *constants, "\t")
    return ValidatedRows(
        lines=lines.to_pylist(),
        line_rows=list(range(first_row, first_row + rows)),
        line_keys=key_texts.to_pylist(),
        seen=rows,
    )


def read_columns(
    data: bytes, *, width: int, encoding: str, delimiter: str
) -> list[pa.StringArray] | None:
    """The chunk's cells a column at a time, exactly as `csv.reader` reads them, or None
    when the bytes are not ones both read alike (see the module)."""
    if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig") or len(delimiter) != 1:
        return None
    if not data or data.startswith(codecs.BOM_UTF8) or b"\x00" in data:
        return None
    if width < 2:
        return None  # a blank line would be read as one empty cell
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    names = [str(i) for i in range(width)]
    try:
        table = arrow_csv.read_csv(
            pa.py_buffer(data),
            read_options=arrow_csv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(data) + 1
            ),
            parse_options=arrow_csv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                # Kept as a row of empty cells (see below), where csv.reader numbers
                # it and skips it.
                ignore_empty_lines=False,
            ),
            convert_options=arrow_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except pa.ArrowInvalid:
        return None  # a row with another number of fields, an open quote, ...
    columns = [table.column(i).combine_chunks() for i in range(width)]
    lengths = [pc.binary_length(column) for column in columns]
    if max(pc.max(length).as_py() for length in lengths) > csv.field_size_limit():
        return None  # csv.reader refuses a cell that long (bytes: at least its characters)
    blank = pc.equal(lengths[0], 0)
    for length in lengths[1:]:
        blank = pc.and_(blank, pc.equal(length, 0))
    if pc.any(blank).as_py():
        return None  # a blank line, or a row of empty cells: the row reader tells them apart
    return columns


class _DistinctValues:
    """`HeaderPlan.converters` reads the chunk's values of its foreign-key columns."""

    def __init__(self, columns: Sequence[pa.StringArray]) -> None:
        self.columns = columns

    def __getitem__(self, position: int) -> list[str]:
        return pc.unique(self.columns[position]).to_pylist()


def _column_texts(
    convert: Converter, values: pa.StringArray, first_cells: list[str], first_index: int
) -> pa.StringArray | None:
    """A column's COPY text as `HeaderPlan._convert_columns` gives it, or None."""
    texts = _lane_texts(getattr(convert, "shape", None), values)
    if texts is None and getattr(convert, "pure", False):
        # `_by_distinct_value` hands a pure converter the chunk's first row.
        texts = _by_distinct_value(lambda value: convert(value, first_cells, first_index), values)
    return texts


def _lane_texts(shape, values: pa.StringArray) -> pa.StringArray | None:
    if isinstance(shape, Matching):
        return values if _all_match(values, shape.pattern) else None
    if isinstance(shape, Text):
        lengths = pc.utf8_length(values)
        if pc.min(lengths).as_py() == 0:
            return None  # an empty cell may take the field's default
        if shape.limit is not None and pc.max(lengths).as_py() > shape.limit:
            return None
        if pc.any(pc.match_substring_regex(values, _ESCAPED)).as_py():
            for character, escaped in _ESCAPES:
                values = pc.replace_substring(values, character, escaped)
        return values
    if isinstance(shape, DayAndTime):
        pattern, pieces = datetime_iso_cut(shape.format)
        if not _all_match(values, pattern):
            return None
        # Cut and joined at fixed places: half the time of one regex rewrite.
        texts = pc.binary_join_element_wise(
            *(
                pc.utf8_slice_codeunits(values, *piece) if isinstance(piece, tuple) else piece
                for piece in pieces
            ),
            "",
        )
        try:
            for day in pc.unique(pc.utf8_slice_codeunits(texts, 0, 10)).to_pylist():
                dt.date.fromisoformat(day)  # 31/02: the lane per cell decides
        except ValueError:
            return None
        return texts
    if isinstance(shape, Answers):
        return _by_distinct_value(shape.answers.__getitem__, values)
    return None


def _all_match(values: pa.StringArray, pattern: str) -> bool:
    # RE2's ^ and $ are the ends of the value (no multi-line mode), as fullmatch reads it.
    return bool(pc.all(pc.match_substring_regex(values, f"^(?:{pattern})$")).as_py())


def _by_distinct_value(answer, values: pa.StringArray) -> pa.StringArray | None:
    """Each distinct value's text from `answer(value)`, spread over the column; None if
    one has none (a KeyError, or a FieldError raised or given)."""
    encoded = values.dictionary_encode()
    texts = []
    for value in encoded.dictionary.to_pylist():
        try:
            text = answer(value)
        except (KeyError, FieldError):
            return None
        if not isinstance(text, str):
            return None
        texts.append(text)
    return pa.array(texts, pa.string()).take(encoded.indices)
