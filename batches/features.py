"""What a team's Resource does at import time, and how the platform honours it.

The rule: a file is imported the way `Resource.import_data` would import it (same
rows, same values, same rows rejected), only in parallel chunks. `resource_profile`
reads a Resource class and says which path can do that:

- the **fast path** (`batches.rows`): the Resource overrides no row hook, so each
  column converts cell by cell, exactly as its `Field.clean` and widget would, and
  a chunk is one COPY and one natural-key upsert;
- the **compatible path** (`batches.compatible`): the Resource's own row machinery
  (hooks, `import_instance`, `skip_row`, `full_clean`, ...) runs for every row,
  with the chunk's existing rows loaded in one query and its writes in bulk;
- between the two, the **fast path after the row hook** (`batches.rowhooks`): the
  only override is a `before_import_row` that only rewrites its own row (read from
  its source by `batches.hookreaders.row_hook_refusal`): each row goes through it,
  then the rows take the fast path;
- and the **fast path with the instance hook** (`batches.instancehooks`): the only
  override is a `before_save_instance` that only reads the fields the file sets and
  sets plain columns (`batches.hookreaders.instance_hook_use`, then
  `_instance_hook_refusal`): the rows take the fast path, the hook runs on each
  converted row, and the fields it set are written with the rest.

What neither path can honour is listed in `refused`: `registry.register` raises
with those lines, each naming the feature and what to do instead. Model-level
conditions (the natural key's unique constraint, `save()` overrides, signal
receivers) need every app loaded and are system checks (`batches.checks`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import inspect
import uuid
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from import_export import fields as ie_fields
from import_export import instance_loaders, widgets
from import_export.resources import ModelResource

from batches.hookreaders import (
    INSTANCE_HOOK,
    ROW_HOOK,
    InstanceHookUse,
    instance_hook_use,
    row_hook_refusal,
)

FAST = "fast"
COMPATIBLE = "compatible"
# The fast path after a before_import_row() that only rewrites its own row.
ROW_HOOK_FAST = "fast after the row hook"
# The fast path, then a before_save_instance() that only reads and sets fields.
INSTANCE_HOOK_FAST = "fast with the instance hook"
# The paths that run a Resource's hook around the fast path (each chunk may still
# hand itself to the compatible path).
HOOK_FAST_PATHS = (ROW_HOOK_FAST, INSTANCE_HOOK_FAST)

# Hooks the platform cannot run: each with why and what to do instead.
REFUSED_METHODS = {
    "before_import": (
        "a whole-file hook: the file is imported in parallel chunks and no process ever "
        "holds the whole dataset. Do per-row work in before_import_row(), or prepare the "
        "file before importing it"
    ),
    "after_import": (
        "a whole-file hook: chunks finish in parallel and no process holds the whole "
        "result. Do per-row work in after_import_row(), or run the step after the import "
        "(a task of your own)"
    ),
    "import_data": "the platform replaces import_data() itself: remove the override",
    "import_data_inner": "the platform replaces import_data() itself: remove the override",
    "import_row": (
        "the platform runs import_row()'s steps itself, to load and write each chunk's "
        "rows in bulk. Move the logic to before_import_row(), import_instance() or "
        "after_import_row()"
    ),
    "save_instance": (
        "the platform writes a chunk's rows in bulk and never saves one instance. Use "
        "before_save_instance() / after_save_instance()"
    ),
    "do_instance_save": (
        "the platform writes a chunk's rows in bulk and never saves one instance. Use "
        "before_save_instance() / after_save_instance()"
    ),
    "for_delete": (
        "deleting rows through an import is not supported. Delete them in a separate "
        "step (an admin action or a task)"
    ),
    "get_import_id_fields": (
        "the natural key must be fixed to write by it: declare Meta.import_id_fields "
        "instead of overriding get_import_id_fields()"
    ),
}

# Hooks the compatible path runs for every row, as import_row() would.
ROW_HOOKS = (
    "before_import_row",
    "after_import_row",
    "get_or_init_instance",
    "get_instance",
    "init_instance",
    "after_init_instance",
    "import_instance",
    "import_field",
    "skip_row",
    "validate_instance",
    "before_save_instance",
    "after_save_instance",
    "save_m2m",
    "get_queryset",
    "get_row_result_class",
    "get_diff_class",
)

# Model field types whose values the fast path writes as COPY text.
COPY_FIELD_TYPES = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.DecimalField,
    models.FloatField,
    models.BooleanField,
    models.DateField,  # DateTimeField is a DateField
    models.TimeField,
    models.UUIDField,
    models.ForeignKey,
)

# Defaults the fast path may call for every row of the file (a new row keeps the
# value; for an existing row it is dropped): they have no side effect.
PURE_DEFAULTS = {
    timezone.now,
    dt.datetime.now,
    dt.date.today,
    uuid.uuid4,
    uuid.uuid1,
    dict,
    list,
    set,
    str,
    int,
    float,
    bool,
    decimal.Decimal,
}


@dataclass(frozen=True)
class Profile:
    """How the platform imports a Resource: its path and why, or what it refuses."""

    path: str
    reasons: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    # On the fast path with the instance hook: what the hook reads and sets.
    instance_hook: InstanceHookUse | None = None

    @property
    def explanation(self) -> str:
        if self.path == FAST:
            return "fast path: the Resource overrides no row hook; cells convert one by one"
        if self.path == ROW_HOOK_FAST:
            return (
                "fast path after the row hook: before_import_row() only rewrites its own "
                "row, so each row goes through it and the rows then convert as on the fast "
                "path (a chunk where the hook raises or leaves a value that is not text "
                "takes the compatible path)"
            )
        if self.path == INSTANCE_HOOK_FAST:
            return (
                "fast path with the instance hook: before_save_instance() only reads and "
                "sets the instance's fields, so the rows convert as on the fast path, the "
                "hook runs on each converted row and the fields it sets are written with "
                "the rest (a chunk where the hook raises, reads a field the file does not "
                "give, leaves such a field unset on some row, or sets a value its column "
                "cannot take, takes the compatible path)"
            )
        return "compatible path: " + "; ".join(self.reasons)


def overridden(resource_class: type, name: str) -> bool:
    """Whether the Resource (or a base of its own) redefines a method of ModelResource."""
    mine = inspect.getattr_static(resource_class, name, None)
    return mine is not inspect.getattr_static(ModelResource, name, None)


def import_fields(resource) -> list:
    """The fields import_data() sets: readonly and attribute-less ones are skipped."""
    return [f for f in resource.get_import_fields() if f.attribute and not f.readonly]


def model_field_of(model: type[models.Model], attribute: str) -> models.Field | None:
    """The concrete model field an import attribute sets (`station` or `station_id`)."""
    try:
        found = model._meta.get_field(attribute)
    except FieldDoesNotExist:
        for candidate in model._meta.concrete_fields:
            if candidate.attname == attribute:
                return candidate
        return None
    return found if isinstance(found, models.Field) and found.concrete else None


def resource_profile(resource_class: type[ModelResource]) -> Profile:
    refused: list[str] = []
    reasons: list[str] = []
    name = resource_class.__name__
    meta = resource_class._meta
    model = meta.model
    if model is None:
        return Profile(COMPATIBLE, refused=(f"{name}: Meta.model is not set",))

    for method, why in REFUSED_METHODS.items():
        if overridden(resource_class, method):
            refused.append(f"{name}.{method}(): {why}")
    for method in ROW_HOOKS:
        if overridden(resource_class, method):
            reasons.append(f"{method}() is overridden")

    if meta.use_bulk:
        refused.append(
            f"{name}.Meta.use_bulk = True: import_data() then skips save(), auto_now and "
            "the per-row errors; the platform already writes each chunk in bulk with "
            "save()'s semantics. Remove use_bulk"
        )
    if meta.using_db not in (None, "default"):
        refused.append(
            f"{name}.Meta.using_db = {meta.using_db!r}: imports write to the default "
            "database. Remove using_db"
        )
    loader = meta.instance_loader_class
    key_count = len(meta.import_id_fields or ())
    if loader is instance_loaders.CachedInstanceLoader and key_count == 1:
        pass  # what the platform does per chunk anyway: one query for the chunk's keys
    elif loader is not instance_loaders.ModelInstanceLoader:
        refused.append(
            f"{name}.Meta.instance_loader_class = {getattr(loader, '__name__', loader)}: "
            "the platform loads each chunk's existing rows in one query by the natural "
            "key. Remove it (override get_instance() or get_queryset() to change the lookup)"
        )
    if meta.clean_model_instances:
        reasons.append("Meta.clean_model_instances = True (full_clean() per row)")
    if meta.force_init_instance:
        reasons.append("Meta.force_init_instance = True (every row is inserted)")
    if model._meta.parents:
        refused.append(
            f"{name}: {model.__name__} inherits a concrete model (multi-table "
            "inheritance); a row spans two tables. Import the parent model's dataset"
        )
    if model._meta.order_with_respect_to:
        refused.append(
            f"{name}: {model.__name__}.Meta.order_with_respect_to numbers rows one by "
            "one on save(). Import into a model without it"
        )
    manager = type(model.objects) if hasattr(model, "objects") else None
    if manager is None or manager.get_queryset is not models.Manager.get_queryset:
        reasons.append(f"{model.__name__}.objects has its own get_queryset()")

    resource = resource_class()
    auto_fields = [
        f
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    if meta.skip_unchanged and not meta.skip_diff and any(f.auto_now for f in auto_fields):
        reasons.append(
            "Meta.skip_unchanged with an auto_now field (rows are compared as "
            "import_data() compares them, before the database rounds a value)"
        )
    for field in resource.get_import_fields():
        _field_profile(name, model, field, refused, reasons)
    declared = {model_field_of(model, f.attribute) for f in import_fields(resource) if f.attribute}
    for model_field in model._meta.concrete_fields:
        if model_field in declared or model_field.primary_key or model_field.generated:
            continue
        default = model_field.default
        if model_field.has_default() and callable(default) and default not in PURE_DEFAULTS:
            reasons.append(
                f"{model.__name__}.{model_field.name} has a callable default "
                f"({getattr(default, '__name__', default)}) that is called for new rows only"
            )
    for key in meta.import_id_fields or ():
        field = resource.fields.get(key)
        if field is None:
            refused.append(
                f"{name}.Meta.import_id_fields names {key!r}, which is not a field of the "
                "Resource. Name the Resource's fields"
            )
        elif field.readonly or not field.attribute or "__" in field.attribute:
            refused.append(
                f"{name}.Meta.import_id_fields names {key!r}, which import_data() cannot "
                "set (readonly, no attribute, or across a relation). Key on fields the "
                "file sets"
            )
        elif model_field_of(model, field.attribute) is None:
            refused.append(
                f"{name}.Meta.import_id_fields names {key!r} ({field.attribute}), which "
                f"is not a column of {model.__name__}. Key on model fields"
            )
    reasons = list(dict.fromkeys(reasons))
    path = COMPATIBLE if reasons else FAST
    instance_hook = None
    if reasons == [f"{ROW_HOOK}() is overridden"]:
        refusal = row_hook_refusal(resource_class)
        if refusal is None:
            path = ROW_HOOK_FAST
        else:
            reasons.append(f"{refusal}, so it may do more than rewrite its row")
    elif reasons == [f"{INSTANCE_HOOK}() is overridden"]:
        use = instance_hook_use(resource_class)
        refusal = use if isinstance(use, str) else _instance_hook_refusal(resource, use)
        if refusal is None:
            path = INSTANCE_HOOK_FAST
            instance_hook = use
        else:
            reasons.append(f"{refusal}, so it may do more than set fields from fields")
    return Profile(
        path,
        reasons=tuple(reasons),
        refused=tuple(dict.fromkeys(refused)),
        instance_hook=instance_hook,  # type: ignore[arg-type]
    )


def _field_profile(name: str, model, field, refused: list[str], reasons: list[str]) -> None:
    label = f"{name}.{field.column_name}"
    if field.readonly or not field.attribute:
        return  # import_data() never sets it: the column is read and ignored
    widget = field.widget
    if "__" in field.attribute:
        refused.append(
            f"{label}: attribute {field.attribute!r} follows a relation; import_data() "
            "sets it on the related object without saving it. Make the field readonly, "
            "or import the related model as its own dataset"
        )
        return
    if isinstance(widget, widgets.ManyToManyWidget):
        reasons.append(f"{field.column_name}: many-to-many field (saved after each row)")
        return
    model_field = model_field_of(model, field.attribute)
    if model_field is None:
        reasons.append(
            f"{field.column_name}: attribute {field.attribute!r} is not a model column "
            "(set on the instance for the hooks)"
        )
        return
    if not field.saves_null_values:
        reasons.append(f"{field.column_name}: saves_null_values = False")
    if type(field).save is not ie_fields.Field.save:
        reasons.append(f"{field.column_name}: {type(field).__name__}.save() is overridden")
    if not isinstance(model_field, COPY_FIELD_TYPES):
        reasons.append(
            f"{field.column_name}: {type(model_field).__name__} values are written "
            "through Django, not COPY"
        )
    elif type(model_field).pre_save is not models.Field.pre_save and not (
        isinstance(model_field, models.DateField | models.TimeField)
        and not (getattr(model_field, "auto_now", False) or model_field.auto_now_add)
    ):
        reasons.append(f"{field.column_name}: the model field sets its value on save")
    if isinstance(widget, widgets.ForeignKeyWidget):
        lookups = ("get_queryset", "get_lookup_kwargs", "get_instance_by_lookup_fields", "clean")
        custom = [
            m
            for m in lookups
            if getattr(type(widget), m) is not getattr(widgets.ForeignKeyWidget, m)
        ]
        if custom:
            reasons.append(
                f"{field.column_name}: {type(widget).__name__}."
                f"{'/'.join(custom)}() looks up the related row per row"
            )
        elif widget.use_natural_foreign_keys or "__" in widget.field:
            reasons.append(f"{field.column_name}: the related row is looked up per row")


def _instance_hook_refusal(resource, use: InstanceHookUse) -> str | None:
    """Why the Resource's `before_save_instance` cannot run after the fast path's
    conversion (None: it can). It may read the fields the file sets (the values
    `Field.clean` gives, as on the instance import_data() hands it) and set plain
    columns, but not the natural key, a relation or a value save() computes itself."""
    hook = f"{type(resource).__name__}.{INSTANCE_HOOK}"
    if resource._meta.skip_unchanged:
        return f"{hook}: Meta.skip_unchanged decides before the hook runs"
    return _instance_reads_refusal(hook, resource, use) or _instance_writes_refusal(
        hook, resource, use
    )


def _instance_reads_refusal(hook: str, resource, use: InstanceHookUse) -> str | None:
    model = resource._meta.model
    for name in sorted(use.reads):
        setting = [f for f in import_fields(resource) if f.attribute == name]
        model_field = model_field_of(model, name)
        if len(setting) != 1 or model_field is None:
            return f"{hook}: reads instance.{name}, which no one field of the file sets"
        if model_field.is_relation:
            return f"{hook}: reads instance.{name}, a related object"
    return None


def _instance_writes_refusal(hook: str, resource, use: InstanceHookUse) -> str | None:
    model = resource._meta.model
    keys = {
        model_field_of(model, resource.fields[name].attribute)
        for name in resource.get_import_id_fields()
        if name in resource.fields
    }
    for name in sorted(use.writes):
        model_field = model_field_of(model, name)
        if model_field is None or model_field.name != name:
            return f"{hook}: sets instance.{name}, which is not a column of {model.__name__}"
        if model_field in keys or model_field.primary_key:
            return f"{hook}: sets instance.{name}, part of the key"
        if (
            model_field.is_relation
            or model_field.generated
            or not isinstance(model_field, COPY_FIELD_TYPES)
            or getattr(model_field, "auto_now", False)
            or getattr(model_field, "auto_now_add", False)
        ):
            return f"{hook}: sets instance.{name}, which save() does not write as it is set"
    return None
