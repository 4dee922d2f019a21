"""A small sample domain: a product catalogue with daily sales lines, and airports.

It shows how a team plugs its own models into the platform: each model here is
importable (batches/resources), reported on (reporting) and administered.
"""

from django.db import models


class Category(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class DailySales(models.Model):
    """One product's sales in one store on one day; natural key (day, store_code, sku)."""

    day = models.DateField()
    store_code = models.CharField(max_length=16)
    sku = models.CharField(max_length=32)
    units = models.IntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        verbose_name = "daily sales line"
        verbose_name_plural = "daily sales"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "store_code", "sku"], name="dailysales_natural_key"
            ),
        ]
        indexes = [models.Index(fields=["sku", "day"], name="dailysales_sku_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.store_code} {self.sku}"


class Airport(models.Model):
    """Rows of the real file catalogue/data/airports.csv; natural key `iata`."""

    iata = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=8, blank=True)
    country = models.CharField(max_length=100)
    latitude = models.DecimalField(max_digits=11, decimal_places=8)
    longitude = models.DecimalField(max_digits=12, decimal_places=8)

    class Meta:
        ordering = ["iata"]

    def __str__(self) -> str:
        return f"{self.iata} {self.name}"
