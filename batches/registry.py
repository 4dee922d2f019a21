"""Importable datasets: a name, a django-import-export Resource, and its natural key.

A team makes a model importable in its app's `imports.py` (discovered at start-up):

    from batches import registry
    registry.register("airports", AirportResource, label="Airports")

The platform imports a file the way the Resource's `import_data()` would, in parallel
chunks. `register()` reads the Resource (`batches.features`): it picks the fast or the
compatible path and says why, and raises `DatasetRefused`, naming each feature and
what to do instead, for what it cannot honour. Model-level conditions are system
checks (`batches.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from import_export.resources import ModelResource

from batches.features import FAST, Profile, import_fields, resource_profile

if TYPE_CHECKING:
    from batches.rows import RowSpec


class DatasetNotFound(LookupError):
    pass


class DatasetRefused(ValueError):
    """The Resource uses import features the platform cannot run as import_data() would."""


@dataclass(eq=False)
class Dataset:
    name: str
    resource_class: type[ModelResource]
    label: str
    profile: Profile
    description: str = ""
    # Extra columns in a file are an error unless the dataset says they may be ignored.
    ignore_extra_columns: bool = False

    @cached_property
    def spec(self) -> RowSpec:
        """The fast path's compiled columns (datasets on the fast path, or on it after
        their row hook)."""
        from batches.rows import RowSpec

        return RowSpec.from_resource(self.resource_class())

    @property
    def model(self):
        return self.resource_class._meta.model

    @property
    def path(self) -> str:
        return self.profile.path

    @property
    def is_fast(self) -> bool:
        return self.profile.path == FAST

    @property
    def column_names(self) -> list[str]:
        return [f.column_name for f in import_fields(self.resource_class())]


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
        raise DatasetRefused(
            f"{resource_class.__name__} must declare import_id_fields (natural key)"
        )
    profile = resource_profile(resource_class)
    if profile.refused:
        lines = "\n".join(f"  - {line}" for line in profile.refused)
        raise DatasetRefused(
            f"dataset {name!r}: {resource_class.__name__} uses import features the platform "
            f"cannot run the way import_data() does:\n{lines}"
        )
    dataset = Dataset(
        name=name,
        resource_class=resource_class,
        label=label or name,
        profile=profile,
        description=description,
        ignore_extra_columns=ignore_extra_columns,
    )
    _DATASETS[name] = dataset
    return dataset


def unregister(name: str) -> None:
    _DATASETS.pop(name, None)


def get(name: str) -> Dataset:
    try:
        return _DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(_DATASETS)) or "none"
        raise DatasetNotFound(f"unknown dataset {name!r} (registered: {known})") from None


def all_datasets() -> list[Dataset]:
    return sorted(_DATASETS.values(), key=lambda d: d.name)
