"""django-import-export Resources of the sample domain: the columns and natural keys.

These are plain Resources; `catalogue/imports.py` registers them as datasets.
"""

from import_export import fields, resources, widgets

from catalogue.models import Airport, Category, DailySales, Product


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
