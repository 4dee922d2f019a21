"""Report kinds: what a report says about one business date.

A team adds a kind in its app's `reports.py`, discovered at start-up the way datasets
are discovered in `imports.py`. A useful kind is a dozen lines:

    from reporting import registry
    from team.models import Reading

    class Readings(registry.ReportKind):
        key = "readings"
        label = "Readings of the day"

        def build(self, day):
            rows = list(Reading.objects.filter(day=day.business_date)
                        .values_list("station__code", "temp_max", "precipitation"))
            return registry.ReportContent(
                summary={"stations reporting": len(rows)},
                detail_header=["station", "temp_max", "precipitation"],
                detail_rows=rows,
            )

    registry.register(Readings())

Without `template_prefix` the email shows the summary and the detail table in the
platform's default templates; with one, `<prefix>.txt` and `<prefix>.html` are rendered
with `context`. `parameters_form` (a Django form) adds parameters to the definition,
validated in the admin and on every save, stored as JSON and handed back cleaned as
`day.parameters`. Scheduling, business days, exactly-once delivery, attachments
(CSV, XLSX), preview and the command are the same for every kind (docs/reporting.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

from reporting.business_days import local_day_bounds, previous_business_day
from reporting.models import ReportDefinition


class ReportKindNotFound(LookupError):
    pass


@dataclass
class ReportDay:
    """What a kind builds from: one definition's business date, in its timezone."""

    definition: ReportDefinition
    business_date: dt.date
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def timezone(self) -> str:
        return self.definition.timezone

    @cached_property
    def previous_business_date(self) -> dt.date:
        """The business day before (Monday's is Friday), for day-over-day change."""
        return previous_business_day(definition=self.definition, day=self.business_date)

    @cached_property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of the business date in the definition's timezone, as aware
        instants: filter `created_at__gte=start, created_at__lt=end`."""
        return local_day_bounds(day=self.business_date, timezone=self.timezone)


@dataclass
class ReportContent:
    """One business date's report: a summary, a detail table (the attachment), and the
    context of the kind's own templates. `empty=None` means "empty when the detail table
    has no rows"; a kind that means something else says so."""

    summary: Mapping[str, Any] = field(default_factory=dict)
    detail_header: Sequence[str] = ()
    detail_rows: Sequence[Sequence[Any]] = ()
    context: dict[str, Any] = field(default_factory=dict)
    empty: bool | None = None

    @property
    def is_empty(self) -> bool:
        return not self.detail_rows if self.empty is None else self.empty


class ReportKind:
    """Subclass it, set `key` and `label`, and write `build`."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # "<app>/reports/<name>" for <name>.txt and <name>.html; empty for the default rendering.
    template_prefix: ClassVar[str] = ""
    parameters_form: ClassVar[type[forms.Form] | None] = None
    # Told to the admin (the *skip when empty* option) and written in a skipped run.
    empty_means: ClassVar[str] = "no rows in the detail table"
    detail_title: ClassVar[str] = "Detail"

    def build(self, day: ReportDay) -> ReportContent:
        raise NotImplementedError

    def parameters_clean(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Typed parameters from what a definition stores (or a form posted).

        Raises ValidationError listing every bad parameter by name.
        """
        return self._parameters_valid_form(stored).cleaned_data if self.parameters_form else {}

    def parameters_stored(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """What a definition keeps: each parameter as its field reads it (before the
        form's own `clean_<name>`), written as JSON form input (a model as its pk, a
        decimal as text, a date in ISO format), so that it validates again at send time."""
        if self.parameters_form is None:
            return {}
        form = self._parameters_valid_form(stored)
        return {
            name: as_form_input(field.clean(form[name].data)) for name, field in form.fields.items()
        }

    def _parameters_valid_form(self, stored: Mapping[str, Any]) -> forms.Form:
        assert self.parameters_form is not None
        form = self.parameters_form(data=dict(stored))
        if not form.is_valid():
            raise ValidationError(
                [
                    f"{name if name != '__all__' else 'parameters'}: {message}"
                    for name, messages in form.errors.items()
                    for message in messages
                ]
            )
        return form


def as_form_input(value: Any) -> Any:
    """A field's cleaned value written back as JSON form input (pk, text, ISO date)."""
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, QuerySet | list | tuple | set):
        return [as_form_input(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):  # datetimes too
        return value.isoformat()
    return value


_KINDS: dict[str, ReportKind] = {}
KEY_MAX_LENGTH = ReportDefinition._meta.get_field("kind").max_length or 50


def register(kind: ReportKind) -> ReportKind:
    """Make `kind` available to report definitions; refused loudly when malformed."""
    name = type(kind).__name__
    if not kind.key or len(kind.key) > KEY_MAX_LENGTH:
        raise ValueError(f"{name}.key must be 1 to {KEY_MAX_LENGTH} characters, got {kind.key!r}")
    if not kind.label:
        raise ValueError(f"{name} needs a label (shown in the definition form)")
    if type(kind).build is ReportKind.build:
        raise ValueError(f"{name} must define build(self, day) -> ReportContent")
    if kind.parameters_form is not None and not issubclass(kind.parameters_form, forms.Form):
        raise ValueError(f"{name}.parameters_form must be a django.forms.Form subclass")
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


def find(key: str) -> ReportKind | None:
    return _KINDS.get(key)


def kind_choices() -> list[tuple[str, str]]:
    return [(key, kind.label) for key, kind in _KINDS.items()]
