"""The fast path with an instance hook: `before_save_instance` on each converted row.

For Resources whose only row-level override is a `before_save_instance` that only
reads and sets the instance's fields (`batches.hookreaders.instance_hook_use`).
import_row() hands that hook the instance once `import_instance` has set every field
the file gives (each to its `Field.clean` value), then saves what the hook left. Such
a hook is a function from the fields it reads (and the row, and the keyword
arguments) to the fields it sets. So a chunk's rows are converted as on the fast
path; then, for each valid row, the hook is called on an instance holding the fields
it reads, each from the same `Field.clean` call import_instance() makes, with the
row and keyword arguments the compatible path passes; and each field it set replaces
that column's COPY text with what save() would write for it.

A chunk is handed back (None), to take the compatible path, wherever that would not
be the same:

- the hook reads a field the file does not give (an existing row's value comes from
  the database there), or sets such a field on some of the chunk's rows and not on
  others (an existing row keeps its value where the hook did not set it, a new row
  gets the default: the chunk's one upsert cannot do both);
- the hook raises, or sets a value its column cannot take (the compatible path reports
  that row as import_row() does);
- a field's `clean` raises on a row the fast path found valid.

The instance the hook gets is the model's, made without `__init__`: it holds only the
fields the hook reads, which is all the hook may touch.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence

from django.db import models

from batches.cells import NOT_ROW_PROBLEMS, FieldError, converts_by_value, database_value
from batches.features import import_fields, model_field_of
from batches.hookreaders import InstanceHookUse
from batches.purity import clean_once_per_value
from batches.rows import HeaderPlan, ValidatedRows

Record = tuple[int, list[str]]


@dataclasses.dataclass
class _Set:
    """A field the hook sets: where its COPY text sits in a line."""

    name: str
    model_field: models.Field
    position: int
    # Not in the file: the hook must set it on every row of the chunk, or on none.
    every_row: bool


class InstanceHook:
    """One chunk's instance hook, over the plan of the chunk's header."""

    def __init__(
        self,
        resource,
        plan: HeaderPlan,
        reads: list[tuple[str, Callable]],
        sets: list[_Set],
    ) -> None:
        self.resource = resource
        self.model = plan.spec.model
        self.header = plan.header
        self.reads = reads
        self.sets = sets
        self.converting_plan = plan
        # Fields the file does not give: those the hook set on some row, and on none.
        self.set_on_some: set[str] = set()
        self.unset_on_some: set[str] = set()

    def writing_plan(self) -> HeaderPlan | None:
        """The plan the chunk's lines are written by, once every slice went through the
        hook: a field the file does not give that the hook set on every row is written
        on updates too; one it set on no row is left as it is. None: it set such a
        field on some rows only."""
        if self.set_on_some & self.unset_on_some:
            return None
        plan = self.converting_plan
        implicit = [
            dataclasses.replace(i, on_update=True) if i.model_field.name in self.set_on_some else i
            for i in plan.implicit
        ]
        return dataclasses.replace(plan, implicit=implicit)

    @classmethod
    def for_chunk(cls, dataset, plan: HeaderPlan) -> InstanceHook | None:
        """The hook over this header; None if it reads or sets a field the header
        leaves out in a way the fast path cannot follow (see the module docstring)."""
        use: InstanceHookUse = dataset.profile.instance_hook
        resource = dataset.resource_class()
        fields = {f.attribute: f for f in import_fields(resource)}
        given = {c.model_field.name: i for i, (_, c) in enumerate(plan.present)}
        reads = []
        for name in sorted(use.reads):
            if name not in given:
                return None
            field = fields[name]
            # The Resource's fields are its own copies: cleaned once per value where
            # that is the same (as on the compatible path).
            clean = clean_once_per_value(field) if converts_by_value(field) else field.clean
            reads.append((name, clean))
        implicit = {i.model_field.name: j for j, i in enumerate(plan.implicit)}
        sets = []
        for name in sorted(use.writes):
            model_field = model_field_of(plan.spec.model, name)
            assert model_field is not None  # `batches.features` checked it
            if name in given:
                sets.append(_Set(name, model_field, given[name], every_row=False))
            elif name in implicit:
                position = len(plan.present) + implicit[name]
                sets.append(_Set(name, model_field, position, every_row=True))
            else:
                return None  # the database fills it (a db_default): not written
        return cls(resource, plan, reads, sets)

    def through(
        self, validated: ValidatedRows, records: Sequence[Record], *, first_index: int,
        dry_run: bool,
    ) -> bool:  # fmt: skip
        """Run the hook on each valid line of `validated` (converted from `records`,
        the first of them the file's data row `first_index`), rewriting the lines in
        place with the fields it set. False: the chunk takes the compatible path."""
        at = {number: (offset, cells) for offset, (number, cells) in enumerate(records)}
        hook = self.resource.before_save_instance
        model, header, reads, sets = self.model, self.header, self.reads, self.sets
        lines = validated.lines
        for j, number in enumerate(validated.line_rows):
            offset, cells = at[number]
            row = OrderedDict(zip(header, cells, strict=True))
            kwargs = {
                "dry_run": dry_run, "using_transactions": True,
                "row_number": first_index + offset,
            }  # fmt: skip
            instance = model.__new__(model)
            values = instance.__dict__
            try:
                for name, clean in reads:
                    values[name] = clean(row, **kwargs)
                read = dict(values)
                hook(instance, row, **kwargs)
            except NOT_ROW_PROBLEMS:
                raise
            except Exception:
                return False
            changed = []
            for field in sets:
                if field.name not in values:
                    if field.every_row:
                        self.unset_on_some.add(field.name)
                    continue
                if field.every_row:
                    self.set_on_some.add(field.name)
                value = values[field.name]
                if field.name in read and value is read[field.name]:
                    continue  # the file's value, already converted
                try:
                    text = database_value(field.model_field, value, empty_cell=False)
                except FieldError:
                    return False
                changed.append((field.position, text))
            if changed:
                parts = lines[j].split("\t")
                for position, text in changed:
                    parts[position] = text
                lines[j] = "\t".join(parts)
        return True
