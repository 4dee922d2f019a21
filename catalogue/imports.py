"""The sample domain's importable datasets (discovered by the batches app at start-up)."""

from batches import registry
from catalogue.resources import (
    AirportResource,
    CategoryResource,
    DailySalesResource,
    ProductResource,
)

registry.register("categories", CategoryResource, label="Categories (keyed by code)")
registry.register("products", ProductResource, label="Products (keyed by SKU)")
registry.register(
    "daily_sales",
    DailySalesResource,
    label="Daily sales lines (keyed by day, store, SKU)",
)
registry.register("airports", AirportResource, label="Airports (keyed by IATA code)")
