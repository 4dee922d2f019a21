"""Report kinds: what a report says about one business date.

A team adds a kind in its app's `reports.py`, discovered at start-up the way datasets
are discovered in `imports.py`:

    from reporting import registry

    class StationsReport(registry.ReportKind):
        key = "stations"
        label = "Stations: the day's readings"
        template_prefix = "team/reports/stations"   # <prefix>.txt and <prefix>.html

        def build(self, *, definition, business_date):
            ...
            return registry.ReportContent(context={...}, detail_header=[...], detail_rows=[...])

    registry.register(StationsReport())

Scheduling, business days, exactly-once delivery, preview and the command are the same
for every kind (docs/reporting.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from reporting.models import ReportDefinition


class ReportKindNotFound(LookupError):
    pass


@dataclass
class ReportContent:
    context: dict[str, Any]
    detail_header: list[str]
    detail_rows: list[list[Any]] = field(default_factory=list)


class ReportKind:
    """Subclass it, set `key`, `label` and `template_prefix`, and write `build`."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    template_prefix: ClassVar[str] = ""

    def build(self, *, definition: ReportDefinition, business_date: dt.date) -> ReportContent:
        raise NotImplementedError


_KINDS: dict[str, ReportKind] = {}
KEY_MAX_LENGTH = ReportDefinition._meta.get_field("kind").max_length or 50


def register(kind: ReportKind) -> ReportKind:
    """Make `kind` available to report definitions; refused loudly when malformed."""
    name = type(kind).__name__
    if not kind.key or len(kind.key) > KEY_MAX_LENGTH:
        raise ValueError(f"{name}.key must be 1 to {KEY_MAX_LENGTH} characters, got {kind.key!r}")
    if not kind.label:
        raise ValueError(f"{name} needs a label (shown in the definition form)")
    if not kind.template_prefix:
        raise ValueError(f"{name} needs a template_prefix")
    registered = _KINDS.get(kind.key)
    if registered is not None and type(registered).__qualname__ != type(kind).__qualname__:
        raise ValueError(
            f"Report kind {kind.key!r} is already registered by {type(registered).__module__}."
            f"{type(registered).__qualname__}"
        )
    _KINDS[kind.key] = kind
    return kind


def get(key: str) -> ReportKind:
    try:
        return _KINDS[key]
    except KeyError:
        known = ", ".join(sorted(_KINDS)) or "none"
        raise ReportKindNotFound(f"Unknown report kind {key!r}; known: {known}") from None


def kind_choices() -> list[tuple[str, str]]:
    return [(key, kind.label) for key, kind in _KINDS.items()]
