"""Fixtures of the conformance suite: small chunks, the starting rows, a dataset per case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from batches import registry
from tests.conformance.models import Filtered, Gauge, Item, Owner, Tag

OWNERS = {"O1": True, "O2": False, "O3": True}


def base_rows() -> None:
    """The rows every case starts from: owners, tags, one gauge, one item, two filtered."""
    for code, active in OWNERS.items():
        Owner._base_manager.update_or_create(code=code, defaults={"name": code, "active": active})
    Owner._base_manager.exclude(code__in=OWNERS).delete()
    for name in ("red", "blue", "green"):
        Tag.objects.get_or_create(name=name)
    Gauge.objects.create(
        code="G1", name="old", note="kept", count=1, small=5, amount=Decimal("1.00"),
        owner=Owner.objects.get(code="O1"),
    )  # fmt: skip
    item = Item.objects.create(
        owner=Owner.objects.get(code="O1"), sku="S1", title="old", price=Decimal("1.00")
    )
    item.tags.set([Tag.objects.get(name="red")])
    Filtered._base_manager.create(code="F1", value=1, active=True)
    Filtered._base_manager.create(code="F2", value=2, active=False)


@pytest.fixture(autouse=True)
def small_chunks(settings, tmp_path):
    """Files of a few rows still run as several chunks in parallel."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMPORT_CHUNK_ROWS = 4
    settings.IMPORT_CHUNK_MAX_RETRIES = 1
    return settings


@pytest.fixture
def dataset(monkeypatch):
    """Register a Resource as a dataset for one test (the in-process worker sees it)."""
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))

    def register(name: str, resource_class, **options) -> registry.Dataset:
        return registry.register(name, resource_class, **options)

    return register
