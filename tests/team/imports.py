"""The team's importable datasets, written as a team writes django-import-export Resources.

Weather files from NOAA write a missing number as "M" and a trace of precipitation as
"T"; station codes arrive in any case. The Resources read them with small widget
subclasses (the documented django-import-export way) and a `before_import_row` hook,
and `Reading` fills `created`/`updated`, `reference` (uuid4) and `received_at`
(timezone.now) itself. `skip_unchanged` makes a re-import write nothing.
"""

from decimal import Decimal

from import_export import fields, resources, widgets

from batches import registry
from tests.team.models import OrderLine, Reading, Station, Store

MISSING = {"M", "N/A", ""}


class MissingDecimalWidget(widgets.DecimalWidget):
    """'M' is a missing value, 'T' a trace (reported as 0)."""

    def clean(self, value, row=None, **kwargs):
        text = str(value).strip().upper() if value is not None else ""
        if text in MISSING:
            return None
        if text == "T":
            return Decimal("0")
        return super().clean(value, row, **kwargs)


class MissingIntegerWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        if value is not None and str(value).strip().upper() in MISSING:
            return None
        return super().clean(value, row, **kwargs)


class StationResource(resources.ModelResource):
    class Meta:
        model = Station
        import_id_fields = ("code",)
        fields = ("code", "name")


class ReadingResource(resources.ModelResource):
    station = fields.Field(
        attribute="station", column_name="station", widget=widgets.ForeignKeyWidget(Station, "code")
    )
    day = fields.Field(
        attribute="day", column_name="date", widget=widgets.DateWidget(format="%Y/%m/%d")
    )
    temp_max = fields.Field(
        attribute="temp_max", column_name="temp_max", widget=MissingDecimalWidget()
    )
    temp_min = fields.Field(
        attribute="temp_min", column_name="temp_min", widget=MissingDecimalWidget()
    )
    precipitation = fields.Field(
        attribute="precipitation", column_name="precipitation", widget=MissingDecimalWidget()
    )
    snow_depth = fields.Field(
        attribute="snow_depth", column_name="snow_depth", widget=MissingIntegerWidget()
    )

    class Meta:
        model = Reading
        import_id_fields = ("station", "day")
        fields = ("station", "day", "temp_max", "temp_min", "precipitation", "wind",
                  "snow_depth", "weather", "note")  # fmt: skip
        skip_unchanged = True

    def before_import_row(self, row, **kwargs):
        row["station"] = (row.get("station") or "").strip().upper()
        if "weather" in row:
            row["weather"] = (row["weather"] or "").strip().lower()


registry.register("team_stations", StationResource, label="Weather stations (team)")
registry.register("team_readings", ReadingResource, label="Daily readings (team)")


# The nightly order export: "n/a" (any case, any spaces) where a value is missing.
PLACEHOLDERS = {"n/a", "-"}


class PlaceholderIntegerWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str) and value.strip().lower() in PLACEHOLDERS:
            return None
        return super().clean(value, row, **kwargs)


class PlaceholderCharWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str) and value.strip().lower() in PLACEHOLDERS:
            return None
        return super().clean(value, row, **kwargs)


class OrderLineResource(resources.ModelResource):
    store = fields.Field(
        attribute="store", column_name="store", widget=widgets.ForeignKeyWidget(Store, "code")
    )
    shipped_at = fields.Field(
        attribute="shipped_at",
        column_name="shipped_at",
        widget=widgets.DateTimeWidget(format="%d/%m/%Y %H:%M"),
    )
    quantity = fields.Field(
        attribute="quantity", column_name="quantity", widget=PlaceholderIntegerWidget()
    )
    priority = fields.Field(
        attribute="priority", column_name="priority", widget=PlaceholderIntegerWidget()
    )
    boxes = fields.Field(attribute="boxes", column_name="boxes", widget=PlaceholderIntegerWidget())
    status = fields.Field(attribute="status", column_name="status", widget=PlaceholderCharWidget())
    channel = fields.Field(
        attribute="channel", column_name="channel", widget=PlaceholderCharWidget()
    )
    region = fields.Field(attribute="region", column_name="region", widget=PlaceholderCharWidget())

    class Meta:
        model = OrderLine
        import_id_fields = ("order", "line")
        fields = ("order", "line", "store", "sku", "description", "quantity", "unit_price",
                  "discount", "tax", "total", "ordered_on", "shipped_at", "status", "channel",
                  "region", "priority", "boxes", "weight_kg", "note")  # fmt: skip


registry.register("team_order_lines", OrderLineResource, label="Order lines (team)")


class CheckedOrderLineResource(OrderLineResource):
    """The same file with a row hook (a team normalising a column before the widgets):
    the fast path after the row hook."""

    class Meta(OrderLineResource.Meta):
        pass

    def before_import_row(self, row, **kwargs):
        row["sku"] = (row.get("sku") or "").strip().upper()


registry.register(
    "team_order_lines_checked", CheckedOrderLineResource, label="Order lines, checked (team)"
)


class AnnotatedOrderLineResource(OrderLineResource):
    """The same file with an instance hook (a team filling a field from the instance
    before it is saved): the fast path with the instance hook."""

    class Meta(OrderLineResource.Meta):
        pass

    def before_save_instance(self, instance, row, **kwargs):
        if not instance.note:
            instance.note = f"line {instance.line} of order {instance.order}"


registry.register(
    "team_order_lines_annotated", AnnotatedOrderLineResource,
    label="Order lines, annotated (team)",
)  # fmt: skip


def line_description(order: int, line: int) -> str:
    return f"line {line} of order {order}"


class DescribedOrderLineResource(OrderLineResource):
    """The same hook calling a function of the team's own: the compatible path (the
    platform does not read what that function does)."""

    class Meta(OrderLineResource.Meta):
        pass

    def before_save_instance(self, instance, row, **kwargs):
        if not instance.note:
            instance.note = line_description(instance.order, instance.line)


registry.register(
    "team_order_lines_described", DescribedOrderLineResource,
    label="Order lines, described (team)",
)  # fmt: skip
