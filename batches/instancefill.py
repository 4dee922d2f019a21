"""`Resource.import_instance` as the library writes it, each field's cleaning a lookup.

The compatible path calls the Resource's own `import_instance` for every row. When the
Resource overrides none of `import_instance`, `import_field`, `get_import_fields` or
`get_import_order`, what that call does is the library's code, read here once:

    for each import field (not a ManyToManyWidget), in get_import_fields() order:
        skip it if it has no attribute, or its column is not in the row;
        Field.save(): unless readonly, cleaned = Field.clean(row) (the widget, then the
        field's default for an empty value), set on the instance unless it is None
        and the field does not save nulls;
        a ValueError is kept under the field's attribute;
    then the kept errors raise one ValidationError.

`InstanceFill.fill()` does exactly that with the loop unrolled into a list of steps
made once per chunk. A column that converts by value (`batches.cells
.converts_by_value`) keeps each distinct value's answer (an immutable one) for the
next cell; a value met for the first time goes through the widget's exact lane
(`batches.valuelanes`) or the widget. A Field that overrides `save()`, or whose
attribute follows a relation (`a__b`), goes through `import_field()` itself.

Hooks may change the Resource between rows (a widget's format read from the row, a
field replaced): `holds()` is asked before each row, and a change makes the fill new.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.encoding import force_str
from import_export import fields as ie_fields
from import_export import widgets

from batches.cells import converts_by_value
from batches.features import overridden
from batches.purity import IMMUTABLE_VALUES, cleaned_by_lane
from batches.valuelanes import SLOW, value_lane

# The library methods whose code fill() stands in for: overriding one keeps the call.
LIBRARY_STEPS = ("import_instance", "import_field", "get_import_fields", "get_import_order")
_MISSING = object()


class _Step:
    """One import field: what it is now, and how its cells are cleaned."""

    __slots__ = (
        "answers", "attribute", "by_value", "column", "default", "field", "lane",
        "library", "limit", "name", "saves_null", "state", "widget",
    )  # fmt: skip

    def __init__(self, name: str, field: ie_fields.Field, limit: int) -> None:
        self.name = name
        self.field = field
        self.widget = field.widget
        self.state = dict(vars(field.widget))
        self.column = field.column_name
        self.attribute = field.attribute
        self.default = field.default
        self.saves_null = field.saves_null_values
        # Field.save() overridden, a relation followed, or readonly: the library's call.
        self.library = (
            type(field).save is not ie_fields.Field.save
            or "__" in (field.attribute or "")
            or field.readonly
        )
        self.by_value = not self.library and converts_by_value(field)
        self.lane = value_lane(field.widget) if self.by_value else None
        self.answers: dict = {} if self.by_value else _NO_ANSWERS
        self.limit = limit

    def holds(self, fields: dict) -> bool:
        field: ie_fields.Field = self.field
        return (
            field.widget is self.widget
            and field.column_name is self.column
            and field.attribute is self.attribute
            and field.default is self.default
            and field.saves_null_values is self.saves_null
            and vars(self.widget) == self.state
            and fields.get(self.name) is field
        )

    def cleaned(self, value, row, kwargs):
        """Field.clean(row) for a field that converts by value (its default a constant),
        for a value not met before (fill() looks the others up)."""
        kept = type(value) is str
        answer = cleaned_by_lane(self.field, value, lane=self.lane, slow=SLOW)
        if answer is SLOW:  # the library's Field.clean, not a chunk's once-per-value one
            answer = ie_fields.Field.clean(self.field, row, **kwargs)
        if kept and type(answer) in IMMUTABLE_VALUES and len(self.answers) < self.limit:
            self.answers[value] = answer
        return answer


_NO_ANSWERS: dict = {}


class InstanceFill:
    """See the module docstring."""

    def __init__(self, resource, *, limit: int = 20_000) -> None:
        self.resource = resource
        self.limit = limit
        self._read()

    @classmethod
    def for_resource(cls, resource) -> InstanceFill | None:
        """The fill for this Resource, or None if it overrides a step it stands in for."""
        if any(overridden(type(resource), name) for name in LIBRARY_STEPS):
            return None
        return cls(resource)

    def _read(self) -> None:
        resource = self.resource
        self.fields = resource.fields
        self.count = len(resource.fields)
        by_field = {id(f): name for name, f in resource.fields.items()}
        self.steps = []
        self.has_m2m = False
        for field in resource.get_import_fields():
            if isinstance(field.widget, widgets.ManyToManyWidget):
                self.has_m2m = True
                continue
            if not field.attribute:
                continue  # import_field() skips it
            self.steps.append(_Step(by_field.get(id(field), ""), field, self.limit))

    def holds(self) -> bool:
        """Whether the Resource's import fields and widgets are still those read."""
        fields = self.resource.fields
        if fields is not self.fields or len(fields) != self.count:
            return False
        return all(step.holds(fields) for step in self.steps)

    def same_widgets(self) -> bool:
        """Whether the import fields and their widgets are still the same objects (so
        none has become a ManyToManyWidget)."""
        fields = self.resource.fields
        if fields is not self.fields or len(fields) != self.count:
            return False
        return all(
            fields.get(step.name) is step.field and step.field.widget is step.widget
            for step in self.steps
        )

    def fill(self, instance, row, kwargs: dict) -> None:
        """`resource.import_instance(instance, row, **kwargs)`, as the library does it."""
        if not self.holds():
            self._read()
        errors = {}
        resource = self.resource
        for step in self.steps:
            if step.column not in row:
                continue
            try:
                if step.library:
                    resource.import_field(step.field, instance, row, **kwargs)
                    continue
                if step.by_value:
                    value = row[step.column]
                    # A value met before: its answer, without a call.
                    cleaned = step.answers.get(value, _MISSING) if type(value) is str else _MISSING
                    if cleaned is _MISSING:
                        cleaned = step.cleaned(value, row, kwargs)
                else:
                    cleaned = step.field.clean(row, **kwargs)
                if cleaned is not None or step.saves_null:
                    setattr(instance, step.attribute, cleaned)
            except ValueError as exc:
                errors[step.attribute] = ValidationError(force_str(exc), code="invalid")
        if errors:
            raise ValidationError(errors)
