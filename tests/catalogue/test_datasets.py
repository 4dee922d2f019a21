"""The sample domain's datasets: registered at start-up through `catalogue/imports.py`, keyed
by a unique natural key, and importable from the real files kept in `catalogue/data/`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import models

from batches import registry
from catalogue.models import Airport, Category, DailySales, Product
from catalogue.resources import (
    AirportResource,
    CategoryResource,
    DailySalesResource,
    ProductResource,
)

SAMPLE_DATASETS = {
    "categories": (CategoryResource, Category),
    "products": (ProductResource, Product),
    "daily_sales": (DailySalesResource, DailySales),
    "airports": (AirportResource, Airport),
}


def unique_field_sets(model: type[models.Model]) -> list[set[str]]:
    """Every set of fields the database keeps unique for all rows (no condition)."""
    sets = [{field.name} for field in model._meta.fields if field.unique and not field.primary_key]
    sets += [
        set(constraint.fields)
        for constraint in model._meta.constraints
        if isinstance(constraint, models.UniqueConstraint) and constraint.condition is None
    ]
    sets += [set(fields) for fields in model._meta.unique_together]
    return sets


def test_the_sample_domain_registers_its_datasets_at_start_up():
    registered = {dataset.name: dataset for dataset in registry.all_datasets()}
    assert set(SAMPLE_DATASETS) <= set(registered)
    for name, (resource_class, model) in SAMPLE_DATASETS.items():
        assert registered[name].resource_class is resource_class
        assert registered[name].model is model
        assert registry.get(name) is registered[name]
    assert registry.get("airports").label == "Airports (keyed by IATA code)"


def test_each_datasets_natural_key_is_a_unique_key_of_its_model():
    # The pipeline writes with INSERT ... ON CONFLICT (natural key): without a unique
    # constraint on exactly those columns there is no conflict target.
    for name, (resource_class, model) in SAMPLE_DATASETS.items():
        natural_key = set(resource_class._meta.import_id_fields)
        assert natural_key in unique_field_sets(model), f"{name}: {sorted(natural_key)}"


def test_import_csv_list_names_each_sample_dataset_with_its_columns(capsys):
    call_command("import_csv", "--list")
    out = capsys.readouterr().out
    assert (
        "airports: Airports (keyed by IATA code) "
        "[iata, name, city, state, country, latitude, longitude]" in out
    )
    assert "products: Products (keyed by SKU) [sku, name, category, unit_price, active]" in out
    assert "categories: Categories (keyed by code) [code, name]" in out
    assert "daily_sales: Daily sales lines (keyed by day, store, SKU)" in out


@pytest.mark.slow
def test_the_real_airports_file_imports_every_row_and_a_second_run_writes_nothing(
    celery_worker, airports_csv, capsys
):
    call_command("import_csv", "airports", str(airports_csv), "--wait", "--timeout", "120")
    out = capsys.readouterr().out
    assert "succeeded: 3,376 rows, 3,376 new, 0 updated, 0 unchanged, 0 rejected" in out
    assert Airport.objects.count() == 3_376
    # A quoted name with a comma in it, and the decimals exactly as in the file.
    troy = Airport.objects.get(iata="35A")
    assert troy.name == "Union County, Troy Shelton"
    assert (troy.latitude, troy.longitude) == (Decimal("34.68680111"), Decimal("-81.64121167"))
    assert Airport.objects.get(iata="ORD").name == "Chicago O'Hare International"

    call_command("import_csv", "airports", str(airports_csv), "--wait", "--timeout", "120")
    out = capsys.readouterr().out
    assert "succeeded: 3,376 rows, 0 new, 0 updated, 3,376 unchanged, 0 rejected" in out
    assert Airport.objects.count() == 3_376


@pytest.mark.slow
def test_products_name_their_category_by_code_and_an_unknown_code_is_rejected_by_row(
    celery_worker, tmp_path, capsys
):
    categories = tmp_path / "categories.csv"
    categories.write_text("code,name\nBAK,Bakery\nDAI,Dairy\n")
    products = tmp_path / "products.csv"
    products.write_text(
        "sku,name,category,unit_price,active\n"
        "SKU-1,Sourdough,BAK,3.20,true\n"
        "SKU-2,Butter,DAI,2.10,false\n"
        "SKU-3,Mystery,XXX,1.00,true\n"
    )
    call_command("import_csv", "categories", str(categories), "--wait", "--timeout", "60")
    with pytest.raises(SystemExit) as exit_status:
        call_command("import_csv", "products", str(products), "--wait", "--timeout", "60")
    assert exit_status.value.code == 3  # partially failed: one row rejected
    captured = capsys.readouterr()
    assert "3 rows, 2 new, 0 updated, 0 unchanged, 1 rejected" in captured.out
    assert "XXX" in captured.err
    assert "category" in captured.err

    assert {p.sku: (p.category.code, p.unit_price, p.active) for p in Product.objects.all()} == {
        "SKU-1": ("BAK", Decimal("3.20"), True),
        "SKU-2": ("DAI", Decimal("2.10"), False),
    }
