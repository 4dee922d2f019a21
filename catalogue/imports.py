"""The sample domain's importable datasets (discovered by the batches app at start-up)."""

from batches import registry
from catalogue.resources import (
    AirportResource,
    CategoryResource,
    DailySalesResource,
    ProductResource,
    WeatherResource,
)

registry.register("categories", CategoryResource, label="Categories (keyed by code)")
registry.register("products", ProductResource, label="Products (keyed by SKU)")
registry.register(
    "daily_sales",
    DailySalesResource,
    label="Daily sales lines (keyed by day, store, SKU)",
)
registry.register("airports", AirportResource, label="Airports (keyed by IATA code)")
registry.register(
    "seattle_weather",
    WeatherResource,
    label="Seattle weather by day (keyed by date)",
    description="catalogue/data/seattle-weather.csv: NOAA data via vega-datasets",
)
