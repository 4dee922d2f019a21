"""django-import-export Resources of the sample domain: the columns and natural keys.

`catalogue/imports.py` registers them as datasets. Most are plain; `AirportResource` requires
its code with a widget, and `WeatherResource` reads NOAA's trace mark with a widget and
normalises a column in `before_import_row` (so it takes the compatible path).
"""

from decimal import Decimal

from import_export import fields, resources, widgets

from catalogue.models import Airport, Category, DailySales, Product, WeatherDay


class CategoryResource(resources.ModelResource):
    class Meta:
        model = Category
        import_id_fields = ("code",)
        fields = ("code", "name")


class ProductResource(resources.ModelResource):
    category = fields.Field(
        attribute="category",
        column_name="category",
        widget=widgets.ForeignKeyWidget(Category, field="code"),
    )

    class Meta:
        model = Product
        import_id_fields = ("sku",)
        fields = ("sku", "name", "category", "unit_price", "active")


class DailySalesResource(resources.ModelResource):
    class Meta:
        model = DailySales
        import_id_fields = ("day", "store_code", "sku")
        fields = (
            "day",
            "store_code",
            "sku",
            "units",
            "unit_price",
            "discount",
            "revenue",
            "currency",
        )


class RequiredCharWidget(widgets.CharWidget):
    """Text that must be given: import_data() would otherwise store an empty code."""

    def clean(self, value, row=None, **kwargs):
        if value is None or not str(value).strip():
            raise ValueError("a value is required")
        return super().clean(value, row, **kwargs)


class AirportResource(resources.ModelResource):
    iata = fields.Field(attribute="iata", column_name="iata", widget=RequiredCharWidget())

    class Meta:
        model = Airport
        import_id_fields = ("iata",)
        fields = ("iata", "name", "city", "state", "country", "latitude", "longitude")


class PrecipitationWidget(widgets.DecimalWidget):
    """NOAA writes a trace of precipitation as "T": read it as 0.0."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str) and value.strip().upper() == "T":
            return Decimal("0.0")
        return super().clean(value, row, **kwargs)


class WeatherResource(resources.ModelResource):
    """Seattle's daily weather: dates as YYYY/MM/DD, a custom widget, a row hook."""

    day = fields.Field(
        attribute="day", column_name="date", widget=widgets.DateWidget(format="%Y/%m/%d")
    )
    precipitation = fields.Field(
        attribute="precipitation", column_name="precipitation", widget=PrecipitationWidget()
    )

    class Meta:
        model = WeatherDay
        import_id_fields = ("day",)
        fields = ("day", "precipitation", "temp_max", "temp_min", "wind", "weather")
        skip_unchanged = True

    def before_import_row(self, row, **kwargs):
        # Files from other sources write "Rain" or " rain ": one spelling per kind.
        row["weather"] = (row.get("weather") or "").strip().lower()
