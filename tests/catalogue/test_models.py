"""The sample domain's models: natural keys are database facts, categories are protected."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from catalogue.models import Airport, Category, DailySales, Product
from tests.support.factories import (
    AirportFactory,
    CategoryFactory,
    DailySalesFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db


def _refused_by_the_database(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def test_each_natural_key_is_unique_in_the_database():
    line = DailySalesFactory(day=dt.date(2026, 11, 20), store_code="S001", sku="SKU-1")
    # objects.create, not the factories: get_or_create would hand back the existing row.
    assert _refused_by_the_database(
        lambda: DailySales.objects.create(
            day=line.day, store_code=line.store_code, sku=line.sku,
            units=1, unit_price=Decimal("1.00"), revenue=Decimal("1.00"),
        )
    )  # fmt: skip
    airport = AirportFactory()
    assert _refused_by_the_database(
        lambda: Airport.objects.create(
            iata=airport.iata, name="Another", country="USA", latitude=0, longitude=0
        )
    )
    category = CategoryFactory()
    assert _refused_by_the_database(lambda: Category.objects.create(code=category.code, name="x"))
    product = ProductFactory()
    assert _refused_by_the_database(
        lambda: Product.objects.create(
            sku=product.sku, name="x", category=category, unit_price=Decimal("1.00")
        )
    )


def test_the_same_sku_may_sell_in_another_store_or_on_another_day():
    first = DailySalesFactory(day=dt.date(2026, 11, 20), store_code="S001", sku="SKU-1")
    DailySalesFactory(day=first.day, store_code="S002", sku="SKU-1")
    DailySalesFactory(day=dt.date(2026, 11, 21), store_code="S001", sku="SKU-1")
    assert DailySales.objects.filter(sku="SKU-1").count() == 3


def test_a_category_with_products_cannot_be_deleted():
    product = ProductFactory(category__code="BAK")
    with pytest.raises(ProtectedError):
        product.category.delete()
    product.delete()
    product.category.delete()
    assert not Category.objects.filter(code="BAK").exists()


def test_model_defaults_fill_what_a_sales_line_leaves_out():
    line = DailySales.objects.create(
        day=dt.date(2026, 11, 20), store_code="S001", sku="SKU-1",
        units=2, unit_price=Decimal("1.25"), revenue=Decimal("2.50"),
    )  # fmt: skip
    line.refresh_from_db()
    assert (line.discount, line.currency) == (Decimal("0.00"), "EUR")
    assert ProductFactory().active is True


def test_rows_name_themselves_by_their_natural_key_and_list_in_key_order():
    category = CategoryFactory(code="DAI", name="Dairy")
    ProductFactory(sku="SKU-00002", name="Milk", category=category)
    ProductFactory(sku="SKU-00001", name="Butter", category=category)
    AirportFactory(iata="ORD", name="Chicago O'Hare International")
    AirportFactory(iata="JFK", name="John F Kennedy Intl")
    line = DailySalesFactory(day=dt.date(2026, 11, 20), store_code="S001", sku="SKU-00001")

    assert str(category) == "Dairy"
    assert [str(p) for p in Product.objects.all()] == ["SKU-00001 Butter", "SKU-00002 Milk"]
    assert [str(a) for a in Airport.objects.all()] == [
        "JFK John F Kennedy Intl",
        "ORD Chicago O'Hare International",
    ]
    assert str(line) == "2026-11-20 S001 SKU-00001"
