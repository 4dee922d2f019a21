"""The compatible path's reads: a chunk's existing rows and related rows, loaded in bulk.

django-import-export looks each row's instance up on its own (`ModelInstanceLoader`)
and each foreign key too (`ForeignKeyWidget.clean`). Here a chunk's keys are read
first, the matching rows loaded in one query, and the Resource's own steps are
answered from them, with the same results (the same instance, or the same
DoesNotExist / MultipleObjectsReturned).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, models
from import_export import widgets
from import_export.instance_loaders import ModelInstanceLoader

from batches.cells import NOT_ROW_PROBLEMS, foreign_key_matches, render, storage_field
from batches.features import model_field_of
from batches.instances import STAGE, column, db_cast, stage


def rows_by_keys(queryset, fields: list[models.Field], keys: list[tuple]) -> list[models.Model]:
    """The rows of `queryset` whose `fields` equal one of `keys`, in one query."""
    if not keys:
        return []
    if len(fields) == 1:
        return list(queryset.filter(**{f"{fields[0].attname}__in": [k[0] for k in keys]}))
    qn = connection.ops.quote_name
    meta = queryset.model._meta
    with connection.cursor() as cursor:
        stage(
            cursor,
            [(f"k{i}", db_cast(f)) for i, f in enumerate(fields)],
            [[render(value) for value in key] for key in keys],
        )
    on = " AND ".join(f"t.{qn(column(f))} = s.k{i}" for i, f in enumerate(fields))
    matching = models.expressions.RawSQL(
        f"SELECT t.{qn(column(meta.pk))} FROM {qn(meta.db_table)} t JOIN {STAGE} s ON {on}", []
    )
    return list(queryset.filter(pk__in=matching))


class ChunkInstanceLoader(ModelInstanceLoader):
    """ModelInstanceLoader over rows loaded for the whole chunk in one query.

    A row's key is read as ModelInstanceLoader reads it (`Field.clean` of each
    `import_id_fields` field); a key the bulk load could not prepare (empty parts,
    values the model field cannot read) is looked up on its own, as there.
    """

    def __init__(self, resource):
        super().__init__(resource)
        meta = resource._meta
        self.key_fields = [resource.fields[name] for name in resource.get_import_id_fields()]
        self.model_fields = [model_field_of(meta.model, f.attribute) for f in self.key_fields]
        self.loaded: dict[tuple, models.Model] = {}
        self.keys: dict[int, tuple] = {}  # id(row) -> (row, key) read by key_of()

    def key_of(self, data) -> tuple | None:
        try:
            values = [field.clean(data) for field in self.key_fields]
        except NOT_ROW_PROBLEMS:
            raise
        except Exception:
            return None  # the same call fails again in get_instance(), where it counts
        key = self._normal(values)
        self.keys[id(data)] = (data, key)
        return key

    def _normal(self, values) -> tuple | None:
        key = []
        for model_field, value in zip(self.model_fields, values, strict=True):
            if isinstance(value, models.Model):
                value = value.pk
            if value is None or model_field is None:
                return None
            try:
                key.append(storage_field(model_field).to_python(value))
            except (ValidationError, TypeError, ValueError):
                return None
        return tuple(key)

    def load(self, keys: Iterable[tuple]) -> None:
        """Load the existing rows of these keys: one query (per 5,000 keys)."""
        wanted = list(set(keys))
        fields = [f for f in self.model_fields if f is not None]
        queryset = self.get_queryset()
        for start in range(0, len(wanted), 5_000):
            for instance in rows_by_keys(queryset, fields, wanted[start : start + 5_000]):
                loaded = self._normal([getattr(instance, f.attname) for f in fields])
                if loaded is not None:
                    self.loaded[loaded] = instance

    def get_instance(self, row):
        # The key this row's fields gave in key_of() (nothing ran on the row since).
        remembered = self.keys.get(id(row))
        key = remembered[1] if remembered and remembered[0] is row else self.key_of(row)
        if key is None:
            return super().get_instance(row)
        return self.loaded.get(key)


class ChunkForeignKeyWidget(widgets.ForeignKeyWidget):
    """A plain ForeignKeyWidget answering from the chunk's related rows, loaded at once.

    Same results as the widget's own `get(**{field: value})`: the instance, or the
    model's DoesNotExist / MultipleObjectsReturned; a value it was not given (a later
    hook changed it) is looked up as the original widget would.
    """

    def __init__(self, original: widgets.ForeignKeyWidget, values: set[str]):
        self.__dict__.update(original.__dict__)
        self.original = original
        self.matches, self.problems = foreign_key_matches(original, values, pks_only=False)

    def get_instance_by_lookup_fields(self, value, row, **kwargs):
        if value in self.problems or value not in self.matches:
            return super().get_instance_by_lookup_fields(value, row, **kwargs)
        found = self.matches[value]
        name = self.model._meta.object_name
        if not found:
            raise self.model.DoesNotExist(f"{name} matching query does not exist.")
        if len(found) > 1:
            raise self.model.MultipleObjectsReturned(
                f"get() returned more than one {name} -- it returned {len(found)}!"
            )
        return found[0]


def plain_foreign_key(widget) -> bool:
    return (
        type(widget) is widgets.ForeignKeyWidget
        and not widget.use_natural_foreign_keys
        and "__" not in widget.field
    )
