"""Import one file twice, by import_data() (the oracle) and by the platform; compare.

The oracle is `Resource().import_data(dataset, use_transactions=False)` on the file
loaded by tablib: each row is saved on its own, so the rows it accepts stay, as in the
platform's "import the valid rows, report the rest" mode. The platform runs the real
pipeline: a stored file, the planner, a chord of chunk tasks on the `celery_worker`
fixture's worker, the callback.

Compared: every column of every row of the model (a value set per save, such as
`auto_now` or a `uuid4` default, only for being set), its many-to-many values, the
side table the hooks write (`Audit`), the rows rejected (row numbers, and the fields of
the rows import_data() reports as invalid), and the counts of new and existing rows.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import tablib
from django.db import models
from django.utils import timezone

from batches import registry
from batches.features import import_fields, model_field_of
from batches.models import ImportJob, ImportRowError
from batches.services.uploads import job_queue
from tests.conformance.models import Audit, Gauge, Item, Owner, Prepared, Tag
from tests.support.imports import make_job, wait_for_finish

VOLATILE_DEFAULTS = {timezone.now, uuid.uuid4}


@dataclass
class Outcome:
    rows: dict
    rejected: dict  # row number -> frozenset of column names (None: not compared)
    new: int
    existing: int  # rows of the file that matched an existing row (written or skipped)
    audit: Counter

    def describe(self) -> str:
        return (
            f"rows={self.rows}\nrejected={self.rejected}\nnew={self.new} existing={self.existing}"
        )


def _volatile(field: models.Field) -> bool:
    return (
        getattr(field, "auto_now", False)
        or getattr(field, "auto_now_add", False)
        or (field.has_default() and field.default in VOLATILE_DEFAULTS)
        or (field.has_db_default() and not isinstance(field.db_default, int | str))
    )


def _value(instance: models.Model, field: models.Field):
    """A column's value; a foreign key by the related row's name (pks differ per run)."""
    if field.is_relation:
        related = getattr(instance, field.name)
        return None if related is None else str(related)
    value = getattr(instance, field.attname)
    if _volatile(field):
        return "<set>" if value is not None else None
    return value


def table(model: type[models.Model], key: list[str]) -> dict:
    """Every row of `model` by its natural key, every column (volatile ones: set or not)."""
    rows = {}
    concrete = [f for f in model._meta.concrete_fields if not f.primary_key]
    by_name = {f.attname: f for f in concrete}
    for instance in model._base_manager.all():
        values = {field.name: _value(instance, field) for field in concrete}
        for field in model._meta.many_to_many:
            related = getattr(instance, field.name).all()
            values[field.name] = sorted(str(r) for r in related)
        rows[tuple(_value(instance, by_name[name]) for name in key)] = values
    return rows


def _key_attnames(resource_class) -> list[str]:
    resource = resource_class()
    model = resource_class._meta.model
    return [
        model_field_of(model, resource.fields[name].attribute).attname  # type: ignore[union-attr]
        for name in resource.get_import_id_fields()
    ]


def _column_of(resource_class) -> Callable[[str], str]:
    """import_data()'s error keys (field attributes, model field names) -> file columns."""
    resource = resource_class()
    model = resource_class._meta.model
    names = {}
    for field in import_fields(resource):
        names[field.attribute] = field.column_name
        model_field = model_field_of(model, field.attribute)
        if model_field is not None:
            names.setdefault(model_field.name, field.column_name)
    return lambda key: names.get(key, key)


def audit() -> Counter:
    return Counter(Audit.objects.values_list("code", "event", "detail"))


def oracle(resource_class, text: str) -> Outcome:
    dataset = tablib.Dataset().load(text, format="csv")
    result = resource_class().import_data(dataset, use_transactions=False)
    column = _column_of(resource_class)
    rejected: dict[int, frozenset | None] = {}
    for number, _errors in result.row_errors():
        rejected[number + 1] = None  # data row 1 is the file's row 2 (after the header)
    for invalid in result.invalid_rows:
        fields = invalid.field_specific_errors
        rejected[invalid.number + 1] = frozenset(column(k) for k in fields) if fields else None
    totals = result.totals
    model = resource_class._meta.model
    return Outcome(
        rows=table(model, _key_attnames(resource_class)),
        rejected=rejected,
        new=totals["new"],
        existing=totals["update"] + totals["skip"],
        audit=audit(),
    )


def platform(name: str, text: str) -> tuple[Outcome, ImportJob]:
    job = make_job(name, text, name=f"{name}.csv")
    job_queue(job_id=job.id)
    job = wait_for_finish(job.id, timeout=120)
    rejected = {
        number: frozenset(column.split(", ")) if column else None
        for number, column in ImportRowError.objects.filter(job=job).values_list(
            "row_number", "column"
        )
    }
    dataset = registry.get(name)
    outcome = Outcome(
        rows=table(dataset.model, _key_attnames(dataset.resource_class)),
        rejected=rejected,
        new=job.rows_new,
        existing=job.rows_updated + job.rows_unchanged,
        audit=audit(),
    )
    return outcome, job


def assert_same(expected: Outcome, actual: Outcome) -> None:
    """The platform's outcome is import_data()'s: rows, rejections, counts, side effects."""
    assert actual.rows == expected.rows, _diff(expected.rows, actual.rows)
    assert set(actual.rejected) == set(expected.rejected), (
        f"rejected rows differ: import_data {sorted(expected.rejected)}, "
        f"platform {sorted(actual.rejected)}"
    )
    for number, fields in expected.rejected.items():
        if fields is not None:
            assert actual.rejected[number] == fields, (
                f"row {number}: import_data rejects fields {sorted(fields)}, the platform "
                f"{sorted(actual.rejected[number] or [])}"
            )
    assert (actual.new, actual.existing) == (expected.new, expected.existing)
    assert actual.audit == expected.audit


def _diff(expected: dict, actual: dict) -> str:
    lines = []
    for key in sorted(set(expected) | set(actual), key=repr):
        if expected.get(key) != actual.get(key):
            lines.append(
                f"{key}: import_data {expected.get(key)}\n{' ' * len(str(key))}  platform  {actual.get(key)}"
            )
    return "rows differ:\n" + "\n".join(lines[:10])


def reset(setup: Callable[[], None]) -> None:
    """Back to the state before an import: the case's rows, nothing imported, no audit."""
    Audit.objects.all().delete()
    Prepared.objects.all().delete()
    Item.tags.through.objects.all().delete()
    Item.objects.all().delete()
    Gauge.objects.all().delete()
    for model in (Owner, Tag):
        model._base_manager.all().delete()
    from tests.conformance.models import Filtered

    Filtered._base_manager.all().delete()
    setup()


def compare(name: str, resource_class, text: str, *, setup: Callable[[], None]) -> ImportJob:
    """Import `text` both ways from the state `setup` makes; assert the same outcome."""
    reset(setup)
    expected = oracle(resource_class, text)
    reset(setup)
    actual, job = platform(name, text)
    assert_same(expected, actual)
    return job
