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
from tests.team.models import Reading, Station

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
