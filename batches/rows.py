"""The fast path: a chunk's rows validated as import_data() would, into COPY text.

Taken by Resources that override no row hook (see `batches.features`). import_data()
would, for each row, load the instance by the natural key, set every field the file
has with `Field.clean`, and save. Here each column gets one converter
(`batches.cells`) giving the COPY text of the value that save would write, or the
problem import_data() would report, of the same kind; a generated function converts a
whole row, so a valid row costs a few microseconds. Foreign keys are looked up once
per chunk. The model fields the file does not give get what a new instance gets
(`Model()` defaults, called per row, `auto_now_add`/`auto_now`, `db_default`), and an
existing row keeps them (but `auto_now`). `batches.writer` then writes the chunk with
one COPY and one natural-key upsert.

One module over 400 lines on purpose: the converters, the generated row function and
the defaults are one pipeline whose parts only make sense read together.
"""

from __future__ import annotations

import itertools
import re
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.db import models
from django.db.models.expressions import DatabaseDefault
from import_export import widgets
from import_export.resources import ModelResource

from batches.cells import (
    ERROR,
    NULL,
    Answers,
    Converter,
    FieldError,
    column_lane,
    compile_converter,
    database_value,
    foreign_key_matches,
    literal_converter,
)
from batches.features import import_fields, model_field_of
from batches.headers import HeaderError, check_header, known_columns
from batches.rejections import Rejected, row_verdict

_COPY_ESCAPE = re.compile(r"\\(.)")
_COPY_CODES = {"t": "\t", "n": "\n", "r": "\r"}


def copy_unescape(cell: str) -> str:
    if cell == NULL:
        return ""
    if "\\" not in cell:
        return cell
    return _COPY_ESCAPE.sub(lambda m: _COPY_CODES.get(m.group(1), m.group(1)), cell)


class ColumnValues(Protocol):
    """A chunk's cells a column at a time, by the column's position in the header."""

    def __getitem__(self, position: int, /) -> Sequence[str]: ...


@dataclass
class Column:
    """One importable column: its CSV name, the model field it sets, its Resource field."""

    name: str
    attname: str
    model_field: models.Field
    resource_field: object
    # A plain ForeignKeyWidget: the chunk's values are looked up in one query.
    fk_widget: widgets.ForeignKeyWidget | None = None


@dataclass
class Implicit:
    """A model field the file does not give: what a new row gets for it."""

    attname: str
    model_field: models.Field
    make: Callable[[], str]
    constant: str | None = None
    # auto_now: save() writes it on every update too.
    on_update: bool = False


def _implicit(model_field: models.Field) -> Implicit | None:
    """What `Model()` and `save()` give a new row for a field the file lacks.

    None when the database fills it (an auto primary key, a generated column, a
    `db_default`). Raises HeaderError when a new row could not be saved without it.
    """
    meta = model_field.model._meta
    if model_field is meta.auto_field or model_field.generated:
        return None
    auto = getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False)
    default = model_field.get_default()
    if isinstance(default, DatabaseDefault) and not auto:
        return None

    def make() -> str:
        holder = types.SimpleNamespace(**{model_field.attname: model_field.get_default()})
        value = model_field.pre_save(holder, add=True)  # type: ignore[arg-type]  # auto_now: now
        return database_value(model_field, value, empty_cell=False)

    constant = None
    per_row = auto or (model_field.has_default() and callable(model_field.default))
    if not per_row:
        try:
            constant = make()
        except FieldError:
            label = f"{model_field.model.__name__}.{model_field.name}"
            raise HeaderError(
                f"missing column {model_field.name!r}: {label} cannot be empty and has no "
                "default, so no new row could be saved without it"
            ) from None
    return Implicit(
        attname=model_field.attname,
        model_field=model_field,
        make=make,
        constant=constant,
        on_update=bool(getattr(model_field, "auto_now", False)),
    )


@dataclass
class RowSpec:
    """The dataset's columns as the Resource declares them, and its natural key."""

    model: type[models.Model]
    resource: ModelResource
    columns: list[Column]
    key: list[str]  # CSV column names of the natural key
    known: set[str] = field(default_factory=set)

    @classmethod
    def from_resource(cls, resource: ModelResource) -> RowSpec:
        model = resource._meta.model
        columns = []
        for resource_field in import_fields(resource):
            model_field = model_field_of(model, resource_field.attribute)
            if model_field is None:
                raise ValueError(
                    f"{type(resource).__name__}.{resource_field.column_name}: not a model "
                    "column; such Resources take the compatible path"
                )
            widget = resource_field.widget
            plain_fk = (
                type(widget) is widgets.ForeignKeyWidget
                and not widget.use_natural_foreign_keys
                and "__" not in widget.field
                and isinstance(model_field, models.ForeignKey)
            )
            columns.append(
                Column(
                    name=resource_field.column_name,
                    attname=model_field.attname,
                    model_field=model_field,
                    resource_field=resource_field,
                    fk_widget=widget if plain_fk else None,
                )
            )
        by_key = {
            name: resource.fields[name].column_name for name in resource.get_import_id_fields()
        }
        return cls(
            model=model,
            resource=resource,
            columns=columns,
            key=list(by_key.values()),
            known=known_columns(resource),
        )

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def always_update(self) -> bool:
        return any(getattr(f, "auto_now", False) for f in self.model._meta.concrete_fields)

    def plan(self, header: list[str], *, ignore_extra_columns: bool = False) -> HeaderPlan:
        """Match a file's header to the columns; raise HeaderError naming every problem."""
        positions = check_header(
            header,
            known=self.known,
            required=self.key,
            expected=self.column_names,
            ignore_extra_columns=ignore_extra_columns,
        )
        present = [(positions[c.name], c) for c in self.columns if c.name in positions]
        given = {c.attname for _, c in present}
        implicit = []
        problems = []
        for model_field in self.model._meta.concrete_fields:
            if model_field.attname in given:
                continue
            try:
                made = _implicit(model_field)
            except HeaderError as exc:
                problems.append(str(exc))
                continue
            if made is not None:
                implicit.append(made)
        if problems:
            expected = ", ".join(self.column_names)
            raise HeaderError("; ".join(problems) + f". Expected columns: {expected}.")
        key_positions = [i for i, (_, c) in enumerate(present) if c.name in self.key]
        return HeaderPlan(
            spec=self,
            header=[name.strip() for name in header],
            present=present,
            implicit=implicit,
            key_positions=key_positions,
        )


@dataclass
class ValidatedRows:
    lines: list[str] = field(default_factory=list)  # COPY text lines (no newline) of valid rows
    # For each line: its row number and natural key (parts joined by \x1f), for the
    # cross-chunk duplicate check.
    line_rows: list[int] = field(default_factory=list)
    line_keys: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    seen: int = 0

    @property
    def valid(self) -> int:
        return len(self.lines)


@dataclass
class HeaderPlan:
    spec: RowSpec
    header: list[str]
    present: list[tuple[int, Column]]
    implicit: list[Implicit]
    key_positions: list[int]

    @property
    def insert_columns(self) -> list[str]:
        return [c.attname for _, c in self.present] + [i.attname for i in self.implicit]

    @property
    def file_fields(self) -> list[str]:
        """Names of the model fields the file gives."""
        return [c.model_field.name for _, c in self.present]

    @property
    def key_columns(self) -> list[str]:
        return [self.present[i][1].attname for i in self.key_positions]

    @property
    def update_columns(self) -> list[str]:
        keys = set(self.key_columns)
        given = [c.attname for _, c in self.present if c.attname not in keys]
        return given + [i.attname for i in self.implicit if i.on_update]

    @property
    def compare_columns(self) -> list[str] | None:
        """Columns an existing row is compared on before it is rewritten; None: always.

        An unchanged row is not rewritten (same table content as import_data()'s save),
        unless the model has an auto_now field, which save() would move.
        """
        if any(i.on_update for i in self.implicit):
            return None
        keys = set(self.key_columns)
        return [c.attname for _, c in self.present if c.attname not in keys]

    def converters(self, columns: ColumnValues | None = None) -> list[Converter]:
        """One converter per present column; foreign keys resolved for the values in
        `columns` (the chunk's cells, a column at a time, in header order)."""
        result = []
        for _, column in self.present:
            if column.fk_widget is not None and columns is not None:
                result.append(self._foreign_key(column, columns))
            else:
                result.append(
                    compile_converter(column.resource_field, column.model_field, self.header)
                )
        return result

    def _foreign_key(self, column: Column, columns: ColumnValues) -> Converter:
        """ForeignKeyWidget.clean for the chunk's distinct values, in one query."""
        widget = column.fk_widget
        assert widget is not None
        position = self.header.index(column.name)
        slow = literal_converter(column.resource_field, column.model_field, self.header)
        values = set(columns[position])
        values.discard("")  # ForeignKeyWidget: an empty cell is None (then the default)
        matches, problems = foreign_key_matches(widget, values, pks_only=True)
        answers: dict[str, str | FieldError] = dict(problems)
        name = widget.model._meta.verbose_name
        for value, pks in matches.items():
            if len(pks) == 1:
                try:
                    answers[value] = database_value(column.model_field, pks[0], empty_cell=False)
                except FieldError as exc:
                    answers[value] = exc
            elif not pks:
                answers[value] = FieldError(f"no {name} with {widget.field} {value!r}", ERROR)
            else:
                plural = widget.model._meta.verbose_name_plural
                answers[value] = FieldError(
                    f"{len(pks)} {plural} have {widget.field} {value!r}", ERROR
                )

        def convert(value: str, cells: Sequence[str], index: int) -> str:
            answer = answers.get(value)
            if answer is None:
                return slow(value, cells, index)  # empty: None, or the field's default
            if isinstance(answer, FieldError):
                raise answer
            return answer

        def whole_column(values: Sequence[str]) -> list[str] | None:
            # Every value one existing row: its key. Otherwise row by row, as above.
            found = [answers.get(value) for value in set(values)]
            if any(answer is None or isinstance(answer, FieldError) for answer in found):
                return None
            return [answers[value] for value in values]  # type: ignore[misc]

        return column_lane(convert, whole_column, Answers(answers))

    def _row_converter(self, converters: list[Converter]) -> Callable[..., tuple[str, ...]]:
        """One generated function converting a whole row: no per-column loop in Python.

        Raises FieldError at the first bad cell; `_row_problems` then reads them all.
        """
        namespace: dict = {f"c{i}": convert for i, convert in enumerate(converters)}
        cells = ", ".join(f"c{i}(r[{index}], r, n)" for i, (index, _) in enumerate(self.present))
        exec(f"def convert_row(r, n):\n    return ({cells},)\n", namespace)
        return namespace["convert_row"]

    def _key_function(self) -> Callable[[Sequence[str]], str]:
        # A string key, not a tuple: strings are not tracked by the garbage collector,
        # so a chunk's key set does not make every collection slower.
        parts = ' + "\\x1f" + '.join(f"o[{i}]" for i in self.key_positions)
        namespace: dict = {}
        exec(f"def key_of(o):\n    return {parts}\n", namespace)
        return namespace["key_of"]

    def key_display(self, key: str) -> tuple[list[str], str]:
        """(key column names, "(names) = (values)") of a key from `ValidatedRows.line_keys`."""
        names = [self.present[i][1].name for i in self.key_positions]
        return names, f"({', '.join(names)}) = ({key.replace(chr(0x1F), ', ')})"

    def duplicate_rejected(self, row_number: int, key: str, first: int, cells) -> Rejected:
        """A row whose key an earlier row of the chunk has: rejected, the first kept."""
        columns, shown = self.key_display(key)
        return Rejected(
            row_number,
            columns,
            f"row {row_number}: duplicate key {shown}; row {first} has the same key and was kept",
            cells,
        )

    def cells_of_line(self, line: str) -> list[str]:
        """A valid row's values back in the file's column order (for the error file)."""
        cells = [""] * len(self.header)
        for (position, _), text in zip(self.present, line.split("\t"), strict=False):
            cells[position] = copy_unescape(text)
        return cells

    def _row_problems(self, converters, cells: list[str], index: int):
        problems = []
        for (position, column), convert in zip(self.present, converters, strict=True):
            try:
                convert(cells[position], cells, index)
            except FieldError as exc:
                problems.append((column.name, exc))
                if exc.kind == ERROR:
                    break
        return problems

    def _implicit_row(self) -> Callable[[], str]:
        """The COPY text of the columns a new row gets from the model (per row)."""
        if not self.implicit:
            return lambda: ""
        parts = [i.constant if i.constant is not None else None for i in self.implicit]
        if all(p is not None for p in parts):
            fixed = "\t" + "\t".join(parts)  # type: ignore[arg-type]
            return lambda: fixed
        makers = [i.make for i in self.implicit]

        def made() -> str:
            return "\t" + "\t".join(
                part if part is not None else make()
                for part, make in zip(parts, makers, strict=True)
            )

        return made

    def validate(
        self, records: Iterable[tuple[int, list[str]]], *, first_index: int = 1
    ) -> ValidatedRows:
        """Validate (row_number, cells) records; keep the first of rows sharing a key.

        Valid rows become COPY text lines (without their newline) in `lines`.
        `first_index` is the first record's number among the file's data rows, as
        import_data() numbers them (blank lines do not count), passed to the widgets.

        Columns are converted a whole column at a time where that gives the same text
        (`_convert_columns`); the rows left (a bad cell, a column whose converter must
        see each row in turn) are converted one by one, in file order, as before.
        """
        result = ValidatedRows()
        records = list(records)
        result.seen = len(records)
        width = len(self.header)
        fitting: list[int] = []  # positions in `records` of the rows with every field
        for position, (row_number, cells) in enumerate(records):
            if len(cells) == width:
                fitting.append(position)
            else:
                result.rejected.append(
                    Rejected(
                        row_number,
                        [],
                        f"row {row_number} has {len(cells)} fields; the header has {width}",
                        cells,
                    )
                )
        rows = [records[p][1] for p in fitting]
        indexes = [first_index + p for p in fitting]
        # Only rows with every field are converted: the others are already rejected.
        cells_by_column = list(zip(*rows, strict=True)) if rows else [()] * width
        has_fk = any(c.fk_widget is not None for _, c in self.present)
        converters = self.converters(cells_by_column if has_fk else None)
        columns, failed, deferred = self._convert_columns(
            converters, cells_by_column, rows, indexes
        )
        constant = all(i.constant is not None for i in self.implicit)
        if not failed and not deferred and constant and self._add_columns(result, columns):
            result.line_rows = [records[p][0] for p in fitting]
        else:
            self._add_rows(result, records, fitting, first_index, converters, columns, failed)
        result.rejected.sort(key=lambda r: r.row_number)
        return result

    def _convert_columns(
        self,
        converters: list[Converter],
        cells_by_column: Sequence[Sequence[str]],
        rows: list[list[str]],
        indexes: list[int],
    ) -> tuple[list[list[str] | None], set[int], bool]:
        """Each column's COPY text, a column at a time, where that is the same as cell
        by cell: a converter's column lane (one match over the column), or a pure
        converter called once per distinct value. Returns the columns (None: to be
        converted row by row), the rows with a bad cell in a converted column, and
        whether some column is left to the rows."""
        columns: list[list[str] | None] = []
        failed: set[int] = set()
        for (position, _), convert in zip(self.present, converters, strict=True):
            values = cells_by_column[position]
            lane = getattr(convert, "column", None)
            texts = lane(values) if lane is not None and values else None
            if texts is None and getattr(convert, "pure", False):
                texts = _by_distinct_value(convert, values, rows, indexes, failed)
            columns.append(texts)
        return columns, failed, any(texts is None for texts in columns)

    def _add_columns(self, result: ValidatedRows, columns: list) -> bool:
        """Every row valid, every column converted: the lines and keys, column-wise.
        False (nothing added) if two rows share a key: the rows decide which is kept."""
        keys = [columns[i] for i in self.key_positions]
        line_keys = (
            list(keys[0]) if len(keys) == 1 else list(map("\x1f".join, zip(*keys, strict=True)))
        )
        if len(set(line_keys)) != len(line_keys):
            return False
        extra = self._implicit_row()()
        parts = [*columns, itertools.repeat(extra[1:], len(line_keys))] if extra else columns
        result.lines = list(map("\t".join, zip(*parts, strict=True)))
        result.line_keys = line_keys
        return True

    def _add_rows(self, result, records, fitting, first_index, converters, columns, failed):
        """Row by row, in file order: a row with a bad cell is read again cell by cell
        (every problem, as import_data() reports them), a column left to the rows is
        converted here; then the model's defaults, the key, the duplicate check."""
        convert_row = self._row_converter(converters)
        key_of = self._key_function()
        implicit_row = self._implicit_row()
        left = [
            (i, position, convert)
            for i, ((position, _), convert) in enumerate(zip(self.present, converters, strict=True))
            if columns[i] is None
        ]
        given = [(i, texts) for i, texts in enumerate(columns) if texts is not None]
        width = len(self.present)
        seen_keys: dict[str, int] = {}
        rejected = result.rejected
        for j, position in enumerate(fitting):
            row_number, cells = records[position]
            index = first_index + position
            try:
                if j in failed:
                    out = convert_row(cells, index)  # raises: as import_data() reads it
                else:
                    values: list[str] = [""] * width
                    for i, texts in given:
                        values[i] = texts[j]
                    for i, column_position, convert in left:
                        values[i] = convert(cells[column_position], cells, index)
                    out = tuple(values)
            except FieldError:
                rejected.append(
                    row_verdict(row_number, self._row_problems(converters, cells, index), cells)
                )
                continue
            try:
                extra = implicit_row()
            except FieldError as exc:
                rejected.append(row_verdict(row_number, [("(model default)", exc)], cells))
                continue
            key = key_of(out)
            first = seen_keys.get(key)
            if first is not None:
                rejected.append(self.duplicate_rejected(row_number, key, first, cells))
                continue
            seen_keys[key] = row_number
            result.lines.append("\t".join(out) + extra)
            result.line_rows.append(row_number)
            result.line_keys.append(key)


def _by_distinct_value(convert, values, rows, indexes, failed: set[int]) -> list[str]:
    """A pure converter's column: each distinct value converted once; the rows holding
    a value it refuses are added to `failed`. The row it is handed is the chunk's first:
    a pure converter reads the value alone (`batches.cells.by_values`)."""
    answers: dict[str, str] = {}
    refused = set()
    for value in dict.fromkeys(values):
        try:
            answers[value] = convert(value, rows[0], indexes[0])
        except FieldError:
            refused.add(value)
    if not refused:
        return list(map(answers.__getitem__, values))
    failed.update(j for j, value in enumerate(values) if value in refused)
    return [answers.get(value, "") for value in values]
