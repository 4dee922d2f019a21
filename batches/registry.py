"""Importable datasets: a name, a django-import-export Resource, and its natural key.

A team makes a model importable in its app's `imports.py` (discovered at start-up):

    from batches import registry
    registry.register("airports", AirportResource, label="Airports")

The Resource stays the declaration (columns, widgets, `import_id_fields`); the
pipeline compiles it into fast per-column validators (see `batches.rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from import_export.resources import ModelResource

if TYPE_CHECKING:
    from batches.rows import RowSpec


class DatasetNotFound(LookupError):
    pass


@dataclass(eq=False)
class Dataset:
    name: str
    resource_class: type[ModelResource]
    label: str
    description: str = ""
    # Extra columns in a file are an error unless the dataset says they may be ignored.
    ignore_extra_columns: bool = False

    @cached_property
    def spec(self) -> RowSpec:
        from batches.rows import RowSpec

        return RowSpec.from_resource(self.resource_class())

    @property
    def model(self):
        return self.resource_class._meta.model


_DATASETS: dict[str, Dataset] = {}


def register(
    name: str,
    resource_class: type[ModelResource],
    *,
    label: str = "",
    description: str = "",
    ignore_extra_columns: bool = False,
) -> Dataset:
    if not resource_class._meta.import_id_fields or resource_class._meta.import_id_fields == ["id"]:
        raise ValueError(f"{resource_class.__name__} must declare import_id_fields (natural key)")
    dataset = Dataset(
        name=name,
        resource_class=resource_class,
        label=label or name,
        description=description,
        ignore_extra_columns=ignore_extra_columns,
    )
    _DATASETS[name] = dataset
    return dataset


def get(name: str) -> Dataset:
    try:
        return _DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(_DATASETS)) or "none"
        raise DatasetNotFound(f"unknown dataset {name!r} (registered: {known})") from None


def all_datasets() -> list[Dataset]:
    return sorted(_DATASETS.values(), key=lambda d: d.name)
