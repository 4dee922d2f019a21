"""One CSV cell to what import_data() would store, as PostgreSQL COPY text.

import_data() sets each field with `Field.clean(row)` (the widget's `clean()`, then
the field's default for an empty value) and saves the instance, which converts the
value with the model field's `get_db_prep_save()`; the database then refuses what
does not fit. `literal_converter` does exactly that for one cell, calling the same
methods; the database's refusals (NOT NULL, too long, out of range, numeric
overflow, a NUL character) are checked here so one bad row is rejected, not its
chunk. For the common shapes of a value in the built-in widgets (a plain whole
number, a plain decimal, an ISO date, ...) `compile_converter` adds a fast lane
that gives the same text without the calls; anything else takes the literal path.

Problems carry the kind import_data() gives them, because a row's outcome depends
on it: a `ValueError` from a widget makes the row invalid for that field and the
other fields are still read (INVALID); any other exception stops the row (ERROR);
a value the database refuses is only met when saving, after every field was read
without a problem (DATABASE).

One module over 400 lines on purpose: the literal converter and its fast lane must
give the same text, and the conformance suite checks them side by side.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import DatabaseError, connection, models
from django.db.models.fields import NOT_PROVIDED
from django.utils import timezone
from django.utils.formats import get_format
from import_export import fields as ie_fields
from import_export import widgets

from batches.purity import widget_is_pure

NULL = "\\N"
INVALID = "invalid"
ERROR = "error"
DATABASE = "database"

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_INT_LIMITS = {
    models.SmallIntegerField: (-32768, 32767),
    models.IntegerField: (-2147483648, 2147483647),
    models.BigIntegerField: (-9223372036854775808, 9223372036854775807),
    models.PositiveSmallIntegerField: (0, 32767),
    models.PositiveIntegerField: (0, 2147483647),
    models.PositiveBigIntegerField: (0, 9223372036854775807),
    models.SmallAutoField: (-32768, 32767),
    models.AutoField: (-2147483648, 2147483647),
    models.BigAutoField: (-9223372036854775808, 9223372036854775807),
}
_HUMAN_CODES = {
    "%Y": "YYYY",
    "%y": "YY",
    "%m": "MM",
    "%d": "DD",
    "%H": "hh",
    "%M": "mm",
    "%S": "ss",
}
# (cell, the row's cells, the row's number among the data rows) -> COPY text.
Converter = Callable[[str, Sequence[str], int], str]


# Not a cell's problem: the chunk stops (a time limit; a database error, which
# leaves the chunk's transaction unusable, or is retried when the connection failed).
NOT_ROW_PROBLEMS = (SoftTimeLimitExceeded, DatabaseError)


class FieldError(ValueError):
    """One cell's problem, phrased for the person who wrote the file, and its kind."""

    def __init__(self, message: str, kind: str = INVALID):
        super().__init__(message)
        self.kind = kind


def copy_escape(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def int_limits(model_field: models.Field) -> tuple[int, int]:
    for cls in type(model_field).__mro__:
        if cls in _INT_LIMITS:
            return _INT_LIMITS[cls]
    return _INT_LIMITS[models.BigIntegerField]


def storage_field(model_field: models.Field) -> models.Field:
    """The field whose column type holds the value (a foreign key's target field)."""
    while isinstance(model_field, models.ForeignKey):
        model_field = model_field.target_field
    return model_field


def render(value) -> str:
    """COPY text of a value as `get_db_prep_save()` returns it (a NULL is \\N)."""
    by_type = _RENDER_BY_TYPE.get(type(value))
    if by_type is not None:  # the common types, looked up instead of tested in turn
        return by_type(value)
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return copy_escape(value)
    if isinstance(value, int | Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    raise TypeError(f"cannot write a {type(value).__name__} value with COPY")


_RENDER_BY_TYPE: dict[type, Callable[[object], str]] = {
    str: copy_escape,  # type: ignore[dict-item]
    int: str,
    Decimal: str,
    type(None): lambda value: NULL,
    dt.date: dt.date.isoformat,  # type: ignore[dict-item]
    dt.datetime: dt.datetime.isoformat,  # type: ignore[dict-item]
}


def prepared_value(model_field: models.Field, value, database=connection):
    """`get_db_prep_save(value)`, with its refusal as a FieldError (met at save)."""
    try:
        return model_field.get_db_prep_save(value, database)
    except ValidationError as exc:
        if isinstance(value, Decimal) and not value.is_finite():
            raise FieldError(f"{str(value)!r} is not a finite number", DATABASE) from None
        raise FieldError(" ".join(exc.messages), DATABASE) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise FieldError(str(exc), DATABASE) from None


def column_fit(model_field: models.Field, prepped, *, shown, missing: str = "gives no value"):
    """What the column stores for a prepared value, or the database's refusal.

    The checks PostgreSQL makes when it writes the value: NOT NULL, a NUL character,
    varchar length (trailing spaces beyond it are dropped, not refused), integer
    ranges, numeric precision after rounding half away from zero.
    """
    if prepped is None:
        if not model_field.null:
            label = f"{model_field.model.__name__}.{model_field.name}"
            raise FieldError(f"{missing}; {label} cannot be empty and has no default", DATABASE)
        return None
    target = storage_field(model_field)
    if isinstance(prepped, str):
        if "\x00" in prepped:
            raise FieldError("contains a NUL character, which PostgreSQL cannot store", DATABASE)
        limit = getattr(target, "max_length", None)
        if isinstance(target, models.CharField) and limit is not None and len(prepped) > limit:
            if prepped[limit:].strip(" "):
                raise FieldError(
                    f"is {len(prepped)} characters long; at most {limit} allowed", DATABASE
                )
            prepped = prepped[:limit]  # PostgreSQL drops trailing spaces beyond the limit
    elif isinstance(prepped, int) and not isinstance(prepped, bool):
        if isinstance(target, models.IntegerField):
            low, high = int_limits(target)
            if not low <= prepped <= high:
                raise FieldError(f"{prepped} is out of range ({low} to {high})", DATABASE)
    elif isinstance(prepped, Decimal) and isinstance(target, models.DecimalField):
        whole = target.max_digits - target.decimal_places
        try:
            rounded = prepped.quantize(
                Decimal(1).scaleb(-target.decimal_places), rounding=ROUND_HALF_UP
            )
            fits = abs(rounded) < Decimal(10) ** whole
        except InvalidOperation:
            fits = False
        if not fits:
            raise FieldError(
                f"{str(shown)!r} has more than {whole} digits before the decimal point", DATABASE
            )
    return prepped


def database_value(model_field: models.Field, value, *, empty_cell: bool) -> str:
    """The COPY text save() would send for `value`, or the database's refusal."""
    prepped = column_fit(
        model_field,
        prepared_value(model_field, value),
        shown=value,
        missing="is empty" if empty_cell else "gives no value",
    )
    try:
        return render(prepped)
    except TypeError as exc:
        raise FieldError(str(exc), ERROR) from None


def widget_message(widget, value: str, exc: Exception) -> str:
    """The widget's refusal in words: what the cell holds and what was expected."""
    if isinstance(exc, ObjectDoesNotExist) and isinstance(widget, widgets.ForeignKeyWidget):
        name = widget.model._meta.verbose_name
        return f"no {name} with {widget.field} {value!r}"
    if isinstance(widget, widgets.IntegerWidget):
        return f"{value!r} is not a whole number"
    if isinstance(widget, widgets.DecimalWidget | widgets.FloatWidget):
        return f"{value!r} is not a number"
    if isinstance(widget, widgets.DateWidget | widgets.DateTimeWidget | widgets.TimeWidget):
        kind = {widgets.DateWidget: "a date", widgets.TimeWidget: "a time"}
        what = next((v for k, v in kind.items() if isinstance(widget, k)), "a date and time")
        shown = next(iter(widget.formats))
        for code, human in _HUMAN_CODES.items():
            shown = shown.replace(code, human)
        return f"{value!r} is not {what} (expected {shown})"
    text = str(exc).strip() or type(exc).__name__
    return f"{value!r}: {text}" if value.strip() else text


def lookup_field_of(widget: widgets.ForeignKeyWidget) -> models.Field:
    meta = widget.model._meta
    return meta.pk if widget.field == "pk" else meta.get_field(widget.field)


def foreign_key_matches(
    widget: widgets.ForeignKeyWidget, values: set[str], *, pks_only: bool
) -> tuple[dict[str, list], dict[str, FieldError]]:
    """What `ForeignKeyWidget.clean` finds for each of `values`, in one query per 5,000.

    The lookup is the widget's (`get_queryset()`, `field`), and a value is prepared for
    it by the same method `QuerySet.get()` calls, so a value that one cannot take fails
    the same way (a ValueError makes the cell invalid, anything else is an error).
    Returns ({value: matching rows (pks, or instances)}, {value: its problem}).
    """
    lookup_field = lookup_field_of(widget)
    prepped: dict[str, object] = {}
    problems: dict[str, FieldError] = {}
    for value in values:
        try:
            prepped[value] = lookup_field.get_prep_value(value)
        except ValueError as exc:
            problems[value] = FieldError(f"{value!r}: {exc}", INVALID)
        except Exception as exc:
            problems[value] = FieldError(f"{value!r}: {exc}", ERROR)
    found: dict[object, list] = {}
    wanted = list(set(prepped.values()))
    queryset = widget.get_queryset(None, None)
    attname = lookup_field.attname
    for start in range(0, len(wanted), 5_000):
        batch = queryset.filter(**{f"{attname}__in": wanted[start : start + 5_000]})
        if pks_only:
            for lookup, pk in batch.values_list(attname, "pk"):
                found.setdefault(lookup, []).append(pk)
        else:
            for instance in batch:
                found.setdefault(getattr(instance, attname), []).append(instance)
    return {value: found.get(prep, []) for value, prep in prepped.items()}, problems


def literal_converter(
    resource_field, model_field, header: Sequence[str], *, value_only: bool = False
) -> Converter:
    """A cell through `Field.clean` with the whole row, then save()'s conversion.

    `value_only`: the widget reads the cell alone (`batches.purity`), so the row it is
    handed holds only that cell.
    """
    is_fk_object = (
        isinstance(model_field, models.ForeignKey) and resource_field.attribute == model_field.name
    )
    related = model_field.related_model if is_fk_object else None
    widget = resource_field.widget
    column_name = resource_field.column_name

    def convert(value: str, cells: Sequence[str], index: int) -> str:
        row = {column_name: value} if value_only else dict(zip(header, cells, strict=False))
        kwargs = {"dry_run": False, "using_transactions": True, "row_number": index}
        try:
            cleaned = resource_field.clean(row, **kwargs)
        except NOT_ROW_PROBLEMS:
            raise
        except ValueError as exc:
            raise FieldError(widget_message(widget, value, exc), INVALID) from None
        except ValidationError as exc:
            raise FieldError(f"{value!r}: {' '.join(exc.messages)}", ERROR) from None
        except Exception as exc:
            raise FieldError(widget_message(widget, value, exc), ERROR) from None
        if related is not None and cleaned is not None:
            if not isinstance(cleaned, related):
                raise FieldError(
                    f"{value!r}: {model_field.model.__name__}.{model_field.name} must be a "
                    f"{related.__name__}, not {type(cleaned).__name__}",
                    INVALID,
                )
            cleaned = cleaned.pk
            if cleaned is None:
                raise FieldError(f"{value!r}: the {related.__name__} is not saved", DATABASE)
        return database_value(model_field, cleaned, empty_cell=value.strip() == "")

    return convert


def _plain_field(resource_field) -> bool:
    """Field.clean as the library writes it: the fast lanes may stand in for it."""
    return type(resource_field).clean is ie_fields.Field.clean


def converts_by_value(resource_field) -> bool:
    """Whether a column's cell converts the same whatever its row: `Field.clean` as the
    library writes it, no callable default, a widget whose clean() is pure."""
    return (
        _plain_field(resource_field)
        and (resource_field.default is NOT_PROVIDED or not callable(resource_field.default))
        and widget_is_pure(resource_field.widget)
    )


def once_per_value(convert: Converter, *, limit: int = 20_000) -> Converter:
    """`convert` called once per distinct value (up to `limit` of them), its answer or
    its problem kept for the next cell holding the same value. Only for columns that
    convert by value: the converters are made per chunk, so is this memory."""
    answers: dict[str, str | tuple[str, str]] = {}

    def convert_once(value: str, cells: Sequence[str], index: int) -> str:
        answer = answers.get(value)
        if answer is None:
            try:
                answer = convert(value, cells, index)
            except FieldError as exc:
                answer = (str(exc), exc.kind)
            if len(answers) < limit:
                answers[value] = answer
        if type(answer) is tuple:
            raise FieldError(*answer)
        return answer  # type: ignore[return-value]

    return convert_once


def compile_converter(resource_field, model_field, header: Sequence[str]) -> Converter:
    """The literal converter, behind a fast lane where one gives the same text, and
    called once per distinct value where the column converts by value."""
    widget = resource_field.widget
    type(widget)
    if not _plain_field(resource_field):
        return literal_converter(resource_field, model_field, header)
    by_value = converts_by_value(resource_field)
    slow = literal_converter(resource_field, model_field, header, value_only=by_value)
    if by_value:
        slow = once_per_value(slow)
    return by_values(_lane(resource_field, model_field, slow), pure=by_value)


def by_values(convert: Converter, *, pure: bool) -> Converter:
    """Mark a converter `pure`: its answer depends on the value alone and calling it
    has no effect, so a column may be converted one distinct value at a time, in any
    order (`batches.rows`)."""
    convert.pure = pure  # type: ignore[attr-defined]
    return convert


# What a column lane reads, said as data, so `batches.columnar` can check a whole
# column the same way with Arrow's compute functions instead of Python.


@dataclass(frozen=True)
class Matching:
    """Every value matches `pattern` (no newline) and is stored as it is."""

    pattern: str


@dataclass(frozen=True)
class Text:
    """Every value is non-empty, at most `limit` characters, and stored COPY-escaped."""

    limit: int | None


@dataclass(frozen=True)
class DayAndTime:
    """Every value is written in `format` (`datetime_iso_cut`) and is a real day."""

    format: str


@dataclass(frozen=True)
class Answers:
    """Every value is a key of `answers` whose answer is text (not a FieldError)."""

    answers: dict


LaneShape = Matching | Text | DayAndTime | Answers


def column_lane(
    convert: Converter,
    lane: Callable[[Sequence[str]], list[str] | None],
    shape: LaneShape | None = None,
):
    """Give a converter a whole-column fast lane: `lane(values)` is the converter's
    text for every value, or None when some value is not one the lane reads (then
    the cells are converted one by one). A lane has no effect and raises nothing.
    `shape` says what the lane reads (None: only the lane knows)."""
    convert.column = lane  # type: ignore[attr-defined]
    convert.shape = shape  # type: ignore[attr-defined]
    return convert


_NUMBER_ALPHABET = set("0123456789.-")


def plain_numbers() -> bool:
    """Whether `sanitize_separators()` leaves text like "-12.50" as it is, in the
    active language: its decimal separator is "." or a character such text never
    holds, and no thousands separator it removes is one."""
    decimal_separator = str(get_format("DECIMAL_SEPARATOR"))
    if decimal_separator != "." and (
        not decimal_separator or set(decimal_separator) & _NUMBER_ALPHABET
    ):
        return False
    if not settings.USE_THOUSAND_SEPARATOR:
        return True
    thousands = str(get_format("THOUSAND_SEPARATOR"))
    removed = set(thousands) | set(unicodedata.normalize("NFKD", thousands))
    return not removed & _NUMBER_ALPHABET


def _lane(resource_field, model_field, slow: Converter) -> Converter:
    widget = resource_field.widget
    kind = type(widget)
    # Widget (a TextField's default) returns the cell as it is, CharWidget the same text.
    text_widget = kind is widgets.CharWidget or kind is widgets.Widget
    if text_widget and isinstance(model_field, models.CharField | models.TextField):
        return _char_lane(model_field, slow)
    number = kind in (widgets.IntegerWidget, widgets.DecimalWidget, widgets.FloatWidget)
    if number and not plain_numbers():
        return slow  # the language's separators change "1.500" (sanitize_separators)
    if kind is widgets.IntegerWidget and isinstance(model_field, models.IntegerField):
        return _integer_lane(model_field, slow)
    if kind is widgets.DecimalWidget and isinstance(model_field, models.DecimalField):
        return _decimal_lane(model_field, slow)
    if kind is widgets.FloatWidget and isinstance(model_field, models.FloatField):
        return _pattern_lane(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?", slow)
    if kind is widgets.BooleanWidget and isinstance(model_field, models.BooleanField):
        return _boolean_lane(slow)
    if (
        kind is widgets.DateWidget
        and isinstance(model_field, models.DateField)
        and not isinstance(model_field, models.DateTimeField)
    ):
        return _date_lane(widget, slow)
    if kind is widgets.DateTimeWidget and isinstance(model_field, models.DateTimeField):
        return _datetime_lane(widget, slow)
    return slow


def _char_lane(model_field, slow: Converter) -> Converter:
    limit = model_field.max_length if isinstance(model_field, models.CharField) else None

    def column(values: Sequence[str]) -> list[str] | None:
        # Every value non-empty, within the length, without NUL: each is stored as it is.
        if not all(values) or (limit is not None and max(map(len, values)) > limit):
            return None
        joined = "".join(values)
        if "\x00" in joined:
            return None
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            return [copy_escape(value) for value in values]
        return list(values)

    if limit is None:

        def convert_text(value: str, cells: Sequence[str], index: int) -> str:
            if value and "\x00" not in value:
                return copy_escape(value)
            return slow(value, cells, index)

        return column_lane(convert_text, column, Text(None))

    def convert(value: str, cells: Sequence[str], index: int) -> str:
        # A non-empty string is stored as it is (CharWidget.clean returns it); an empty
        # one may take the field's default: the literal path decides.
        if value and len(value) <= limit and "\x00" not in value:
            return copy_escape(value)
        return slow(value, cells, index)

    return column_lane(convert, column, Text(limit))


def _integer_lane(model_field, slow: Converter) -> Converter:
    low, high = int_limits(model_field)
    plain = re.compile(r"-?\d{1,18}").fullmatch

    def convert(value: str, cells: Sequence[str], index: int) -> str:
        # IntegerWidget: int(Decimal(value)); for plain digits that is int(value).
        if plain(value):
            number = int(value)
            if low <= number <= high:
                return str(number)
        return slow(value, cells, index)

    if low > 0:
        return convert
    # Whole numbers written as str(int(value)) writes them (ASCII digits, no leading
    # zero, no "-0"), with fewer digits than the field's limits: each is stored as it is.
    digits = len(str(min(high, -low) if low < 0 else high)) - 1
    sign = "-?" if low < 0 else ""
    pattern = rf"0|{sign}[1-9][0-9]{{0,{digits - 1}}}"
    return column_lane(convert, values_matching(pattern), Matching(pattern))


def values_matching(pattern: str) -> Callable[[Sequence[str]], list[str] | None]:
    """A column lane for converters that store a value matching `pattern` as it is:
    one regular-expression match over the whole column (`pattern` cannot match a
    newline, and the count of newlines proves no value holds one)."""
    whole = re.compile(rf"(?:{pattern})(?:\n(?:{pattern}))*").fullmatch

    def column(values: Sequence[str]) -> list[str] | None:
        joined = "\n".join(values)
        if joined.count("\n") == len(values) - 1 and whole(joined):
            return list(values)
        return None

    return column


def _decimal_lane(model_field: models.DecimalField, slow: Converter) -> Converter:
    places = model_field.decimal_places
    whole = model_field.max_digits - places
    if whole < 1:
        return slow
    fraction = rf"(?:\.[0-9]{{1,{places}}})?" if places else ""
    # Fits without rounding: the database stores exactly this decimal. ASCII digits
    # only: Decimal() reads other digits too, which the database would refuse as text.
    return _pattern_lane(rf"-?[0-9]{{1,{whole}}}{fraction}", slow)


def _pattern_lane(pattern: str, slow: Converter) -> Converter:
    matches = re.compile(pattern).fullmatch

    def convert(value: str, cells: Sequence[str], index: int) -> str:
        if matches(value):
            return value
        return slow(value, cells, index)

    return column_lane(convert, values_matching(pattern), Matching(pattern))


def _boolean_lane(slow: Converter) -> Converter:
    true_values = {v for v in widgets.BooleanWidget.TRUE_VALUES if isinstance(v, str)}
    null_values = {v for v in widgets.BooleanWidget.NULL_VALUES if isinstance(v, str)}

    def convert(value: str, cells: Sequence[str], index: int) -> str:
        # BooleanWidget.clean: NULL_VALUES -> None (then the default), TRUE_VALUES ->
        # True, anything else -> False.
        if value in null_values:
            return slow(value, cells, index)
        return "t" if value in true_values else "f"

    return convert


def _date_lane(widget: widgets.DateWidget, slow: Converter) -> Converter:
    iso_first = list(widget.formats)[:1] == ["%Y-%m-%d"]
    iso = re.compile(r"\d{4}-\d{2}-\d{2}").fullmatch
    cache: dict[str, str] = {}

    def convert(value: str, cells: Sequence[str], index: int) -> str:
        # Daily files repeat a handful of dates: each distinct string is parsed once
        # (DateWidget.clean depends on the string alone).
        hit = cache.get(value)
        if hit is not None:
            return hit
        text = None
        if iso_first and iso(value):
            try:
                text = dt.date.fromisoformat(value).isoformat()
            except ValueError:
                text = None
        if text is None:
            text = slow(value, cells, index)
        if len(cache) > 10_000:
            cache.clear()
        cache[value] = text
        return text

    return convert


_DATETIME_CODES = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})",
                   "%H": r"(?P<H>\d{2})", "%M": r"(?P<M>\d{2})", "%S": r"(?P<S>\d{2})"}  # fmt: skip


def datetime_pattern(format_: str) -> re.Pattern | None:
    """A regex matching a subset of what `strptime(format_)` reads (fixed-width numbers,
    the literal characters as written), with the same fields; None for other formats."""
    parts = re.split(r"(%.)", format_)
    codes = [p for p in parts if p.startswith("%") and len(p) == 2]
    if any(c not in _DATETIME_CODES for c in codes) or len(set(codes)) != len(codes):
        return None
    if not {"%Y", "%m", "%d"} <= set(codes) or "%" in "".join(p for p in parts if p not in codes):
        return None
    return re.compile("".join(_DATETIME_CODES.get(p) or re.escape(p) for p in parts if p), re.ASCII)


def _datetime_lane(widget: widgets.DateTimeWidget, slow: Converter) -> Converter:
    """DateTimeWidget's first format read without strptime, in UTC only.

    clean() parses with the first format that matches, then make_aware() in the current
    time zone; in UTC that adds +00:00 and nothing else. A value the pattern reads is
    one strptime reads the same way with that first format; anything else (another
    format, single-digit fields, an invalid date, another time zone) is the literal path.
    """
    pattern = datetime_pattern(next(iter(widget.formats), ""))
    if pattern is None or timezone.get_current_timezone_name() != "UTC" or not settings.USE_TZ:
        return slow
    match = pattern.fullmatch
    new = dt.datetime

    def convert(value: str, cells: Sequence[str], index: int) -> str:
        found = match(value)
        if found is not None:
            parts = found.groupdict()
            try:
                return new(
                    int(parts["Y"]), int(parts["m"]), int(parts["d"]),
                    int(parts.get("H") or 0), int(parts.get("M") or 0), int(parts.get("S") or 0),
                ).isoformat() + "+00:00"  # fmt: skip
            except ValueError:
                pass
        return slow(value, cells, index)

    format_ = next(iter(widget.formats), "")
    column = _datetime_column(format_)
    return column_lane(convert, column, DayAndTime(format_)) if column else convert


# Each field in the range a datetime accepts (the day checked against its month after).
_DATETIME_RANGES = {"%Y": "[0-9]{4}", "%m": "0[1-9]|1[0-2]", "%d": "0[1-9]|[12][0-9]|3[01]",
                    "%H": "[01][0-9]|2[0-3]", "%M": "[0-5][0-9]", "%S": "[0-5][0-9]"}  # fmt: skip


def datetime_iso_cut(format_: str) -> tuple[str, list[tuple[int, int] | str]]:
    """The datetime column lane as one match and one cut: (pattern, pieces), where
    `pattern` matches what the lane reads in `format_` (the same field ranges) and the
    pieces, each a place (start, stop) in the value or a literal, join into the ISO
    text the lane gives. Every field has a fixed width (%Y four digits, the others
    two), so a value the pattern matches has each field at the same place."""
    parts = [part for part in re.split(r"(%.)", format_) if part]
    pattern = "".join(
        f"(?:{_DATETIME_RANGES[part]})" if part in _DATETIME_RANGES else re.escape(part)
        for part in parts
    )
    places: dict[str, tuple[int, int] | str] = {}
    at = 0
    for part in parts:
        width = (4 if part == "%Y" else 2) if part in _DATETIME_RANGES else len(part)
        places[part] = (at, at + width)
        at += width
    pieces: list[tuple[int, int] | str] = []
    for piece in [places["%Y"], "-", places["%m"], "-", places["%d"], "T",
                  places.get("%H", "00"), ":", places.get("%M", "00"), ":",
                  places.get("%S", "00"), "+00:00"]:  # fmt: skip
        if isinstance(piece, str) and pieces and isinstance(pieces[-1], str):
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return pattern, pieces


def _datetime_column(format_: str) -> Callable[[Sequence[str]], list[str] | None] | None:
    """The datetime lane for a whole column: one match over the column, each value cut
    into ISO text at the format's fixed places, then each distinct day checked; None
    for a format the lane does not read."""
    if datetime_pattern(format_) is None or "\n" in format_:
        return None
    plain, pieces = datetime_iso_cut(format_)
    whole = re.compile(rf"{plain}(?:\n{plain})*").fullmatch
    text = " + ".join(
        f"v[{piece[0]}:{piece[1]}]" if isinstance(piece, tuple) else repr(piece) for piece in pieces
    )
    namespace: dict = {}
    exec(f"def iso_texts(values):\n    return [{text} for v in values]\n", namespace)
    iso_texts = namespace["iso_texts"]

    def column(values: Sequence[str]) -> list[str] | None:
        joined = "\n".join(values)
        if joined.count("\n") != len(values) - 1 or not whole(joined):
            return None
        texts = iso_texts(values)
        try:
            for day in {text[:10] for text in texts}:
                dt.date.fromisoformat(day)  # 31/02, the year 0: the lane per cell decides
        except ValueError:
            return None
        return texts

    return column
