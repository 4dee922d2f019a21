"""`manage.py generate_demo_data`: realistic sales at any size, repeatable without duplicates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count, F, Sum

from catalogue.models import Category, DailySales, Product
from catalogue.services import CATEGORIES, STORES

pytestmark = pytest.mark.django_db

END_DAY = dt.date(2026, 3, 6)


def _sales_snapshot() -> list[tuple]:
    return list(
        DailySales.objects.order_by("day", "store_code", "sku").values_list(
            "day", "store_code", "sku", "units", "unit_price", "discount", "revenue", "currency"
        )
    )


def test_demo_data_generation_is_repeatable_without_duplicates():
    call_command("generate_demo_data", rows=2_000, products=50, end_day=END_DAY)
    call_command("generate_demo_data", rows=2_000, products=50, end_day=END_DAY)
    assert Product.objects.count() == 50
    assert DailySales.objects.count() == 2_000
    assert DailySales.objects.filter(day=END_DAY).exists()


def test_a_second_run_writes_the_same_rows_and_says_how_many(capsys):
    call_command("generate_demo_data", rows=3_000, products=40, end_day=END_DAY)
    first = _sales_snapshot()
    products = list(Product.objects.values_list("sku", "name", "category__code", "unit_price"))
    assert "Wrote 3,000 daily sales lines" in capsys.readouterr().out

    call_command("generate_demo_data", rows=3_000, products=40, end_day=END_DAY)
    assert "Wrote 3,000 daily sales lines" in capsys.readouterr().out
    assert _sales_snapshot() == first
    assert list(Product.objects.values_list("sku", "name", "category__code", "unit_price")) == (
        products
    )


def test_the_data_is_shaped_like_a_shop(capsys):
    call_command("generate_demo_data", rows=4_000, products=50, end_day=END_DAY)
    assert set(Category.objects.values_list("code", flat=True)) == {code for code, _ in CATEGORIES}
    per_day = len(STORES) * 50
    days = list(DailySales.objects.values("day").annotate(lines=Count("id")).order_by("day"))
    # Newest day last and full; older days are filled back from it.
    assert days[-1] == {"day": END_DAY, "lines": per_day}
    assert [d["day"] for d in days] == [END_DAY - dt.timedelta(days=n) for n in (1, 0)]
    # Every line is of a known product, and its revenue is price x units less the discount.
    assert not DailySales.objects.exclude(sku__in=Product.objects.values("sku")).exists()
    for line in DailySales.objects.all()[:200]:
        expected = (line.unit_price * line.units * (1 - line.discount)).quantize(Decimal("0.01"))
        assert line.revenue == expected
    assert DailySales.objects.aggregate(units=Sum("units"))["units"] > 0
    assert DailySales.objects.filter(discount__gt=0).exists()
    assert not DailySales.objects.filter(revenue__gt=F("unit_price") * F("units")).exists()


def test_replace_starts_the_sales_again_from_nothing():
    call_command("generate_demo_data", rows=2_000, products=20, end_day=END_DAY)
    call_command(
        "generate_demo_data", rows=500, products=20, end_day=dt.date(2026, 4, 1), replace=True
    )
    assert DailySales.objects.count() == 500
    assert set(DailySales.objects.values_list("day", flat=True)) == {dt.date(2026, 4, 1)}
