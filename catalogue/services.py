"""Demo data for the sample domain, generated at any size with PostgreSQL COPY."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

from django.db import connection, transaction

from catalogue.models import Category, DailySales, Product

CATEGORIES = [
    ("BAK", "Bakery"), ("BEV", "Beverages"), ("DAI", "Dairy"), ("FRU", "Fruit & vegetables"),
    ("HOU", "Household"), ("MEA", "Meat & fish"), ("PAN", "Pantry"), ("SNA", "Snacks"),
    ("FRO", "Frozen"), ("PER", "Personal care"),
]  # fmt: skip
ADJECTIVES = ["Organic", "Classic", "Fresh", "Smoked", "Crunchy", "Light", "Family", "Spicy",
              "Golden", "Wholegrain", "Sparkling", "Creamy"]  # fmt: skip
NOUNS = {
    "BAK": ["Sourdough", "Baguette", "Croissant", "Rye loaf"],
    "BEV": ["Lemonade", "Cold brew", "Green tea", "Orange juice"],
    "DAI": ["Yoghurt", "Cheddar", "Butter", "Milk"],
    "FRU": ["Apples", "Tomatoes", "Avocados", "Spinach"],
    "HOU": ["Dish soap", "Sponges", "Bin bags", "Detergent"],
    "MEA": ["Salmon", "Chicken thighs", "Beef mince", "Ham"],
    "PAN": ["Pasta", "Olive oil", "Rice", "Lentils"],
    "SNA": ["Crisps", "Pretzels", "Chocolate", "Trail mix"],
    "FRO": ["Peas", "Pizza", "Ice cream", "Fish fingers"],
    "PER": ["Shampoo", "Toothpaste", "Soap", "Deodorant"],
}
STORES = [f"S{n:03d}" for n in range(1, 41)]


@transaction.atomic
def demo_catalogue_ensure(*, products: int = 400, seed: int = 7) -> list[Product]:
    """Create the categories and products the sales lines refer to (idempotent)."""
    rng = random.Random(seed)
    categories = {
        code: Category.objects.update_or_create(code=code, defaults={"name": name})[0]
        for code, name in CATEGORIES
    }
    wanted = []
    for number in range(1, products + 1):
        code = CATEGORIES[number % len(CATEGORIES)][0]
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS[code])}"
        price = Decimal(str(round(rng.lognormvariate(1.2, 0.6), 2))).max(Decimal("0.29"))
        wanted.append(
            Product(sku=f"SKU-{number:05d}", name=name, category=categories[code], unit_price=price)
        )
    Product.objects.bulk_create(
        wanted,
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=["name", "category", "unit_price"],
    )
    return list(Product.objects.order_by("sku"))


def demo_sales_rows(
    *, rows: int, products: list[Product], end_day: dt.date, seed: int = 7
) -> Iterator[tuple]:
    """Yield (day, store, sku, units, unit_price, discount, revenue, currency), newest day last."""
    rng = random.Random(seed)
    per_day = len(STORES) * len(products)
    days = max(1, -(-rows // per_day))
    emitted = 0
    for day_offset in range(days - 1, -1, -1):
        day = end_day - dt.timedelta(days=day_offset)
        weekend_boost = 1.4 if day.weekday() >= 5 else 1.0
        for store in STORES:
            for product in products:
                if emitted == rows:
                    return
                units = max(0, int(rng.expovariate(1 / (6 * weekend_boost))))
                discount = Decimal("0.10") if rng.random() < 0.08 else Decimal("0")
                revenue = (product.unit_price * units * (1 - discount)).quantize(Decimal("0.01"))
                yield (day, store, product.sku, units, product.unit_price, discount, revenue, "EUR")
                emitted += 1


def demo_data_generate(
    *, rows: int, end_day: dt.date, products: int = 400, replace: bool = False
) -> int:
    """Insert `rows` daily sales lines ending on `end_day`, streaming them through COPY."""
    product_list = demo_catalogue_ensure(products=products)
    table = DailySales._meta.db_table
    columns = "day, store_code, sku, units, unit_price, discount, revenue, currency"
    with transaction.atomic():
        if replace:
            DailySales.objects.all().delete()
        with connection.cursor() as cursor:
            # Stage then upsert, so running the command twice never violates the natural key.
            cursor.execute("DROP TABLE IF EXISTS demo_sales_stage")
            cursor.execute(
                f"CREATE TEMP TABLE demo_sales_stage ON COMMIT DROP AS "
                f"SELECT {columns} FROM {table} WITH NO DATA"
            )
            with cursor.copy(f"COPY demo_sales_stage ({columns}) FROM STDIN") as copy:
                for row in demo_sales_rows(rows=rows, products=product_list, end_day=end_day):
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM demo_sales_stage "
                "ON CONFLICT (day, store_code, sku) DO UPDATE SET units = EXCLUDED.units, "
                "unit_price = EXCLUDED.unit_price, discount = EXCLUDED.discount, "
                "revenue = EXCLUDED.revenue, currency = EXCLUDED.currency"
            )
            return cursor.rowcount
