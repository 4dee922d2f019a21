"""System checks for the registered datasets: what needs every app loaded to judge.

- batches.E010: the natural key (`import_id_fields`) is not the field set of a unique
  constraint. Rows are written by `INSERT ... ON CONFLICT (key)`, which needs one;
  without it a key could be written twice and the file's rows duplicated silently.
- batches.E011: the model overrides `save()`, or `pre_save`/`post_save` receivers are
  connected for it. import_data() calls save() per row; the platform writes a chunk
  in bulk and never does, so that code would silently not run.

`manage.py check` (and so `runserver`, `migrate`, the worker's start-up checks) report
them; the planner also fails a job of such a dataset with the same text.
"""

from __future__ import annotations

from django.core import checks
from django.db import models
from django.db.models.signals import post_save, pre_save

from batches import registry
from batches.features import model_field_of


def natural_key_problem(dataset: registry.Dataset) -> str:
    """Why the dataset's natural key cannot be upserted by, or ""."""
    resource = dataset.resource_class()
    model = dataset.model
    key_fields = set()
    for name in dataset.resource_class._meta.import_id_fields:
        field = resource.fields.get(name)
        model_field = model_field_of(model, field.attribute) if field and field.attribute else None
        if model_field is None:
            return ""  # refused at register() with its own message
        key_fields.add(model_field.name)
    if key_fields in unique_field_sets(model):
        return ""
    names = ", ".join(sorted(key_fields))
    return (
        f"dataset {dataset.name!r}: the natural key ({names}) of "
        f"{dataset.resource_class.__name__} is not backed by a unique constraint of "
        f"{model._meta.label}, so rows could be written twice. Add "
        f"models.UniqueConstraint(fields=[{', '.join(repr(n) for n in sorted(key_fields))}], "
        f"name=...) to {model.__name__}.Meta.constraints (or unique=True on a single "
        "field), or key the Resource on fields that are unique."
    )


def unique_field_sets(model: type[models.Model]) -> list[set[str]]:
    """Field-name sets PostgreSQL can use as an ON CONFLICT target for this model."""
    found = [{f.name} for f in model._meta.concrete_fields if f.unique]
    found += [set(names) for names in model._meta.unique_together]
    for constraint in model._meta.constraints:
        if (
            isinstance(constraint, models.UniqueConstraint)
            and constraint.fields
            and not constraint.expressions
            and constraint.condition is None
            and constraint.deferrable is None
        ):
            found.append(set(constraint.fields))
    return found


def save_problem(dataset: registry.Dataset) -> str:
    """Why rows written in bulk would skip code that import_data() runs on save()."""
    model = dataset.model
    found = []
    for klass in model.__mro__:
        if klass is models.Model:
            break
        if "save" in klass.__dict__:
            found.append(f"{klass.__name__}.save() is overridden")
            break
    for signal, name in ((pre_save, "pre_save"), (post_save, "post_save")):
        sync_receivers, async_receivers = signal._live_receivers(model)
        for receiver in [*sync_receivers, *async_receivers]:
            label = f"{getattr(receiver, '__module__', '')}.{getattr(receiver, '__qualname__', receiver)}"
            found.append(f"a {name} receiver ({label}) is connected")
    if not found:
        return ""
    return (
        f"dataset {dataset.name!r}: {'; '.join(found)} for {model._meta.label}. "
        "import_data() runs that code for every row; the platform writes each chunk in "
        "bulk and never calls save(), so it would silently not run. Move the logic into "
        f"{dataset.resource_class.__name__}.before_save_instance() or "
        "after_save_instance() (run per row, after the chunk's writes for the latter), "
        "or run it after the import."
    )


def dataset_problems(dataset: registry.Dataset) -> list[tuple[str, str]]:
    """(check id, message) of every system-check error of one dataset."""
    problems = []
    if message := natural_key_problem(dataset):
        problems.append(("batches.E010", message))
    if message := save_problem(dataset):
        problems.append(("batches.E011", message))
    return problems


def check_datasets(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [
        checks.Error(message, id=check_id, obj=dataset.resource_class)
        for dataset in registry.all_datasets()
        for check_id, message in dataset_problems(dataset)
    ]
