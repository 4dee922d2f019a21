"""Fast row validation compiled from a django-import-export Resource.

`import_data` builds a model instance per row and runs several queries for it;
that caps it at about a thousand rows a second. Here the Resource's fields,
widgets and the model fields are compiled once into plain converters that check
one CSV cell and return it as PostgreSQL COPY text, so validating a row is a few
string operations. The checks mirror the model: whole numbers and their range,
decimals' max_digits/decimal_places, dates in the widget's formats, max_length,
required values, booleans, and foreign keys looked up once per chunk.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import models
from import_export import widgets
from import_export.resources import ModelResource

NULL = "\\N"
_INT_LIMITS = {
    models.SmallIntegerField: (-32768, 32767),
    models.IntegerField: (-2147483648, 2147483647),
    models.BigIntegerField: (-9223372036854775808, 9223372036854775807),
    models.PositiveSmallIntegerField: (0, 32767),
    models.PositiveIntegerField: (0, 2147483647),
    models.PositiveBigIntegerField: (0, 9223372036854775807),
}
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class FieldError(ValueError):
    """One cell's problem, phrased for the person who wrote the file."""


class HeaderError(ValueError):
    """The header cannot be imported into the dataset: missing/extra/duplicated columns."""


def copy_escape(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _int_limits(model_field: models.Field) -> tuple[int, int]:
    for cls in type(model_field).__mro__:
        if cls in _INT_LIMITS:
            return _INT_LIMITS[cls]
    return _INT_LIMITS[models.BigIntegerField]


@dataclass
class Column:
    """One importable column: its CSV name, the database column and its converter."""

    name: str
    attname: str
    model_field: models.Field
    convert: Callable[[str], str]
    # Set for foreign keys: the converter returns the lookup value; `batches.rows`
    # resolves all of a chunk's values in one query.
    fk_model: type[models.Model] | None = None
    fk_field: str = ""
    may_be_absent: bool = False
    absent_value: object = None


def _empty_handler(model_field: models.Field, default_text: str | None) -> Callable[[], str]:
    def empty() -> str:
        if default_text is not None:
            return default_text
        if model_field.null:
            return NULL
        if model_field.blank and model_field.empty_strings_allowed:
            return ""
        raise FieldError("a value is required")

    return empty


def _default_text(resource_field, model_field: models.Field) -> str | None:
    default = resource_field.default
    if default is models.NOT_PROVIDED:
        if not model_field.has_default():
            return None
        default = model_field.get_default()
    if callable(default):
        default = default()
    if default is None:
        return NULL
    if isinstance(default, bool):
        return "t" if default else "f"
    return copy_escape(str(default))


def _char(model_field: models.Field, empty) -> Callable[[str], str]:
    max_length = model_field.max_length

    def convert(value: str) -> str:
        if value == "":
            return empty()
        if max_length is not None and len(value) > max_length:
            raise FieldError(f"is {len(value)} characters long; at most {max_length} allowed")
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_ESCAPES)
        return value

    return convert


def _integer(model_field: models.Field, empty) -> Callable[[str], str]:
    low, high = _int_limits(model_field)
    fast = re.compile(r"-?\d{1,9}").fullmatch if low < 0 else re.compile(r"\d{1,9}").fullmatch

    def convert(value: str) -> str:
        if fast(value) and low <= int(value) <= high:
            return value
        text = value.strip()
        if text == "":
            return empty()
        try:
            number = int(text)
        except ValueError:
            try:
                decimal = Decimal(text)
            except InvalidOperation:
                raise FieldError(f"{value!r} is not a whole number") from None
            if not decimal.is_finite() or decimal != decimal.to_integral_value():
                raise FieldError(f"{value!r} is not a whole number") from None
            number = int(decimal)
        if not low <= number <= high:
            raise FieldError(f"{number} is out of range ({low} to {high})")
        return str(number)

    return convert


def _decimal(model_field: models.DecimalField, empty) -> Callable[[str], str]:
    places = model_field.decimal_places
    whole = model_field.max_digits - places
    fast = re.compile(rf"-?\d{{1,{whole}}}(?:\.\d{{1,{places}}})?").fullmatch

    def convert(value: str) -> str:
        if fast(value):
            return value
        text = value.strip()
        if text == "":
            return empty()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise FieldError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise FieldError(f"{value!r} is not a finite number")
        _sign, digits, raw_exponent = number.as_tuple()
        exponent = int(raw_exponent)  # finite numbers have an int exponent
        decimals = -exponent if exponent < 0 else 0
        digit_count = len(digits) + (exponent if exponent > 0 else 0)
        if decimals > places:
            raise FieldError(f"{value!r} has more than {places} decimal places")
        if digit_count - decimals > whole:
            raise FieldError(f"{value!r} has more than {whole} digits before the decimal point")
        return str(number)

    return convert


def _float(model_field: models.Field, empty) -> Callable[[str], str]:
    def convert(value: str) -> str:
        text = value.strip()
        if text == "":
            return empty()
        try:
            number = float(text)
        except ValueError:
            raise FieldError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise FieldError(f"{value!r} is not a finite number")
        return repr(number)

    return convert


def _date(widget: widgets.DateWidget, empty) -> Callable[[str], str]:
    formats = list(widget.formats)
    cache: dict[str, str] = {}

    def parse(text: str) -> str:
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        for fmt in formats:
            try:
                return dt.datetime.strptime(text, fmt).date().isoformat()  # noqa: DTZ007
            except ValueError:
                continue
        raise FieldError(f"{text!r} is not a date (expected YYYY-MM-DD)")

    def convert(value: str) -> str:
        # Daily files repeat a handful of dates: parse each distinct string once.
        hit = cache.get(value)
        if hit is not None:
            return hit
        text = value.strip()
        if text == "":
            return empty()
        parsed = parse(text)
        if len(cache) > 10_000:
            cache.clear()
        cache[value] = parsed
        return parsed

    return convert


def _boolean(model_field: models.Field, empty) -> Callable[[str], str]:
    true_values = {str(v) for v in widgets.BooleanWidget.TRUE_VALUES}
    false_values = {str(v) for v in widgets.BooleanWidget.FALSE_VALUES}
    null_values = {str(v) for v in widgets.BooleanWidget.NULL_VALUES if v is not None}

    def convert(value: str) -> str:
        text = value.strip()
        if text in true_values:
            return "t"
        if text in false_values:
            return "f"
        if text in null_values:
            return empty()
        raise FieldError(f"{value!r} is not a boolean (use 1/0 or true/false)")

    return convert


def _foreign_key(empty) -> Callable[[str], str]:
    def convert(value: str) -> str:
        text = value.strip()
        if text == "":
            return empty()
        return text

    return convert


def _widget_fallback(resource_field, empty) -> Callable[[str], str]:
    """Anything without a fast converter goes through the widget itself (slower, correct)."""

    def convert(value: str) -> str:
        if value.strip() == "":
            return empty()
        try:
            cleaned = resource_field.widget.clean(value)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise FieldError(f"{value!r}: {exc}") from None
        if cleaned is None:
            return empty()
        if isinstance(cleaned, bool):
            return "t" if cleaned else "f"
        if isinstance(cleaned, dt.date | dt.datetime | dt.time):
            return cleaned.isoformat()
        return copy_escape(str(cleaned))

    return convert


def compile_column(resource_field, model_field: models.Field) -> Column:
    widget = resource_field.widget
    default_text = _default_text(resource_field, model_field)
    empty = _empty_handler(model_field, default_text)
    fk_model = None
    fk_field = ""
    if isinstance(widget, widgets.ForeignKeyWidget):
        convert = _foreign_key(empty)
        fk_model, fk_field = widget.model, widget.field
    elif isinstance(widget, widgets.DateTimeWidget):
        convert = _widget_fallback(resource_field, empty)
    elif isinstance(widget, widgets.DateWidget) and isinstance(model_field, models.DateField):
        convert = _date(widget, empty)
    elif isinstance(model_field, models.BooleanField):
        convert = _boolean(model_field, empty)
    elif isinstance(model_field, models.DecimalField):
        convert = _decimal(model_field, empty)
    elif isinstance(model_field, models.FloatField):
        convert = _float(model_field, empty)
    elif isinstance(model_field, models.IntegerField) and not model_field.primary_key:
        convert = _integer(model_field, empty)
    elif isinstance(model_field, models.CharField | models.TextField):
        convert = _char(model_field, empty)
    else:
        convert = _widget_fallback(resource_field, empty)
    may_be_absent = (
        model_field.has_default()
        or model_field.null
        or (model_field.blank and model_field.empty_strings_allowed)
    )
    absent_value = model_field.get_default() if may_be_absent else None
    return Column(
        name=resource_field.column_name,
        attname=model_field.column or model_field.name,
        model_field=model_field,
        convert=convert,
        fk_model=fk_model,
        fk_field=fk_field,
        may_be_absent=may_be_absent,
        absent_value=absent_value,
    )


@dataclass
class RowSpec:
    """The dataset's columns as the Resource declares them, and its natural key."""

    model: type[models.Model]
    resource: ModelResource
    columns: list[Column]
    key: list[str]  # CSV column names of the natural key
    # Model fields the Resource does not declare but that have a constant default: COPY
    # would write NULL for them, so every plan writes their default instead.
    implicit: list[Column] = field(default_factory=list)

    @classmethod
    def from_resource(cls, resource: ModelResource) -> RowSpec:
        model = resource._meta.model
        columns = []
        for resource_field in resource.get_import_fields():
            attribute = resource_field.attribute
            if not attribute or "__" in attribute:
                raise ValueError(
                    f"{type(resource).__name__}.{resource_field.column_name}: only direct "
                    "model fields can be imported"
                )
            model_field = model._meta.get_field(attribute)
            if model_field.primary_key and model_field.auto_created:
                continue
            columns.append(compile_column(resource_field, model_field))
        by_attribute = {
            f.attribute: f.column_name for f in resource.get_import_fields() if f.attribute
        }
        key = [by_attribute.get(name, name) for name in resource.get_import_id_fields()]
        declared = {c.attname for c in columns}
        implicit = [
            Column(
                name=model_field.name,
                attname=model_field.column,
                model_field=model_field,
                convert=str,
                may_be_absent=True,
                absent_value=model_field.get_default(),
            )
            for model_field in model._meta.concrete_fields
            if model_field.column not in declared
            and not model_field.primary_key
            and model_field.has_default()
            and not callable(model_field.default)  # one value for every row would be wrong
        ]
        return cls(model=model, resource=resource, columns=columns, key=key, implicit=implicit)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def plan(self, header: list[str], *, ignore_extra_columns: bool = False) -> HeaderPlan:
        """Match a file's header to the columns; raise HeaderError naming every problem."""
        problems = []
        positions: dict[str, list[int]] = {}
        for index, name in enumerate(header):
            positions.setdefault(name.strip(), []).append(index)
        known = {c.name for c in self.columns}
        for name, where in positions.items():
            if len(where) > 1:
                numbers = " and ".join(str(i + 1) for i in where)
                problems.append(f"column {name!r} appears more than once (columns {numbers})")
        for index, name in enumerate(header):
            if name.strip() not in known and not ignore_extra_columns:
                label = repr(name.strip()) if name.strip() else "(empty name)"
                problems.append(f"unexpected column {label} (column {index + 1})")
        present: list[tuple[int, Column]] = []
        absent: list[Column] = []
        for column in self.columns:
            if column.name in positions:
                present.append((positions[column.name][0], column))
            elif column.name in self.key or not column.may_be_absent:
                problems.append(f"missing column {column.name!r}")
            else:
                absent.append(column)
        absent.extend(self.implicit)
        if problems:
            expected = ", ".join(self.column_names)
            raise HeaderError("; ".join(problems) + f". Expected columns: {expected}.")
        key_positions = [i for i, (_, c) in enumerate(present) if c.name in self.key]
        return HeaderPlan(
            spec=self, header=header, present=present, absent=absent, key_positions=key_positions
        )


@dataclass
class Rejected:
    row_number: int
    columns: list[str]
    message: str
    values: list[str]
    # column name -> problem, for the preview's per-field display
    field_errors: dict[str, str] = field(default_factory=dict)


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
    absent: list[Column]
    key_positions: list[int]

    @property
    def insert_columns(self) -> list[str]:
        return [c.attname for _, c in self.present]

    @property
    def key_columns(self) -> list[str]:
        return [self.present[i][1].attname for i in self.key_positions]

    def _row_converter(self) -> Callable[..., tuple[str, ...]]:
        """One generated function converting a whole row: no per-column loop in Python.

        Raises FieldError at the first bad cell; `_row_errors` then collects all of them.
        """
        namespace: dict = {f"c{i}": column.convert for i, (_, column) in enumerate(self.present)}
        cells = ", ".join(f"c{i}(r[{index}])" for i, (index, _) in enumerate(self.present))
        exec(f"def convert_row(r):\n    return ({cells},)\n", namespace)
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

    def _row_errors(self, cells: list[str]) -> list[tuple[str, str]]:
        errors = []
        for index, column in self.present:
            try:
                column.convert(cells[index])
            except FieldError as exc:
                errors.append((column.name, str(exc)))
        return errors

    def validate(self, records: Iterable[tuple[int, list[str]]]) -> ValidatedRows:
        """Validate (row_number, cells) records; keep the first of rows sharing a key.

        Valid rows become COPY text lines (without their newline) in `lines`.
        """
        result = ValidatedRows()
        width = len(self.header)
        convert_row = self._row_converter()
        key_positions = self.key_positions
        key_of = self._key_function()
        fk_positions = [i for i, (_, c) in enumerate(self.present) if c.fk_model is not None]
        seen_keys: dict[str, int] = {}
        pending: list[tuple[int, list[str], list[str]]] = []
        lines = result.lines
        line_rows = result.line_rows
        line_keys = result.line_keys
        rejected = result.rejected
        join = "\t".join
        seen = 0
        for row_number, cells in records:
            seen += 1
            if len(cells) != width:
                rejected.append(
                    Rejected(
                        row_number,
                        [],
                        f"row {row_number} has {len(cells)} fields; the header has {width}",
                        cells,
                    )
                )
                continue
            try:
                out = convert_row(cells)
            except FieldError:
                errors = self._row_errors(cells)
                rejected.append(
                    Rejected(
                        row_number,
                        [name for name, _ in errors],
                        "; ".join(
                            f"row {row_number}, column {name!r}: {msg}" for name, msg in errors
                        ),
                        cells,
                        dict(errors),
                    )
                )
                continue
            key = key_of(out)
            first = seen_keys.get(key)
            if first is not None:
                names = ", ".join(self.present[i][1].name for i in key_positions)
                shown = key.replace("\x1f", ", ")
                rejected.append(
                    Rejected(
                        row_number,
                        [self.present[i][1].name for i in key_positions],
                        f"row {row_number}: duplicate key ({names}) = ({shown}); "
                        f"row {first} has the same key and was kept",
                        cells,
                    )
                )
                continue
            seen_keys[key] = row_number
            if fk_positions:
                pending.append((row_number, cells, list(out)))
            else:
                lines.append(join(out))
                line_rows.append(row_number)
                line_keys.append(key)
        result.seen = seen
        if fk_positions:
            pending = self._resolve_foreign_keys(pending, fk_positions, rejected)
            for row_number, _, resolved in pending:
                lines.append(join(resolved))
                line_rows.append(row_number)
                line_keys.append(key_of(resolved))
        rejected.sort(key=lambda r: r.row_number)
        return result

    def _resolve_foreign_keys(self, pending, fk_positions, rejected):
        for position in fk_positions:
            column = self.present[position][1]
            wanted = {out[position] for _, _, out in pending if out[position] != NULL}
            found = {
                str(value): str(pk)
                for value, pk in column.fk_model._default_manager.filter(
                    **{f"{column.fk_field}__in": wanted}
                ).values_list(column.fk_field, "pk")
            }
            kept = []
            for row_number, cells, out in pending:
                value = out[position]
                if value == NULL:
                    kept.append((row_number, cells, out))
                elif value in found:
                    out[position] = found[value]
                    kept.append((row_number, cells, out))
                else:
                    model_name = column.fk_model._meta.verbose_name
                    rejected.append(
                        Rejected(
                            row_number,
                            [column.name],
                            f"row {row_number}, column {column.name!r}: no {model_name} "
                            f"with {column.fk_field} {value!r}",
                            cells,
                        )
                    )
            pending = kept
        return pending
