"""Exact shortcuts for built-in widgets' `clean()`: the same Python value, sooner.

The compatible path cleans each distinct value of a column once per chunk; a column
whose values are all different (prices, order numbers, timestamps) still meets every
value once. A lane reads a cell the way its widget's `clean()` reads it and gives the
same value, or `SLOW` when it cannot tell, and the widget itself is called. Only for
the built-in widget classes themselves (a subclass may read differently) and only for
cells that are strings.

- `Widget` and `CharWidget` give a string back as it is.
- `IntegerWidget` and `DecimalWidget` read plain ASCII numbers (`-12`, `3.50`) as
  `int(text)` and `Decimal(text)`: what `Decimal(sanitize_separators(text))` gives
  when the active language's separators leave such text alone (`plain_numbers()`:
  a language whose thousands separator is "." reads "1.500" as 1500).
- `DateWidget` and `DateTimeWidget` read their first format when every field in it
  has a fixed width (`batches.cells.datetime_pattern`), as `strptime` does; a value
  that does not match, or is not a real date, goes to the widget. A datetime is made
  aware by the same call as the widget's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from import_export import widgets

from batches.cells import datetime_pattern, plain_numbers

SLOW = object()  # the lane cannot tell: call the widget
Lane = Callable[[str], object]

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII).fullmatch
_WHOLE = re.compile(r"-?[0-9]{1,18}", re.ASCII).fullmatch


def value_lane(widget) -> Lane | None:
    """The lane for this widget's `clean()`, or None (a subclass, another widget)."""
    kind = type(widget)
    if any(callable(member) for member in vars(widget).values()):
        return None  # a method set on the widget itself
    if kind is widgets.Widget or kind is widgets.CharWidget:
        return _itself
    if kind is widgets.IntegerWidget and plain_numbers():
        return _integer
    if kind is widgets.DecimalWidget and plain_numbers():
        return _decimal
    if kind is widgets.DateTimeWidget:
        return _datetime_lane(widget, aware=True)
    if kind is widgets.DateWidget:
        return _datetime_lane(widget, aware=False)
    return None


def _itself(value: str) -> object:
    # Widget.clean returns the value; CharWidget.clean then force_str(), a str as it is.
    return value


def _integer(value: str) -> object:
    # int(Decimal(text)) for a whole number is int(text).
    return int(value) if _WHOLE(value) else SLOW


def _decimal(value: str) -> object:
    return Decimal(value) if _NUMBER(value) else SLOW


def _datetime_lane(widget, *, aware: bool) -> Lane | None:
    formats = list(widget.formats)
    pattern = datetime_pattern(formats[0]) if formats else None
    if pattern is None:
        return None
    match = pattern.fullmatch
    new = dt.datetime

    def read(value: str) -> object:
        found = match(value)
        if found is None:
            return SLOW
        parts = found.groupdict()
        try:
            value_read = new(
                int(parts["Y"]), int(parts["m"]), int(parts["d"]),
                int(parts.get("H") or 0), int(parts.get("M") or 0), int(parts.get("S") or 0),
            )  # fmt: skip
        except ValueError:  # 31/02: the widget tries its other formats, then says why
            return SLOW
        if not aware:
            return value_read.date()
        if settings.USE_TZ and timezone.is_naive(value_read):
            return timezone.make_aware(value_read)
        return value_read

    return read
