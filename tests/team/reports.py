"""The team's report kind, written the way a team writes one: no templates (the
platform's default rendering), a parameter, and its own idea of "empty"."""

from django import forms

from reporting import registry
from tests.team.models import Reading, Station


class ReadingsParameters(forms.Form):
    stations = forms.CharField(
        required=False, help_text="Station codes separated by commas; empty for every station."
    )

    def clean_stations(self) -> list[str]:
        codes = sorted({code.strip() for code in self.cleaned_data["stations"].split(",")} - {""})
        known = set(Station.objects.filter(code__in=codes).values_list("code", flat=True))
        if unknown := [code for code in codes if code not in known]:
            raise forms.ValidationError(f"Unknown station code(s): {', '.join(unknown)}")
        return codes


COLUMNS = ["station__code", "station__name", "temp_max", "temp_min", "precipitation", "weather",
           "note"]  # fmt: skip
HEADER = ["station", "name", *COLUMNS[2:]]


class ReadingsReport(registry.ReportKind):
    key = "team_readings"
    label = "Team: the day's weather readings"
    parameters_form = ReadingsParameters
    empty_means = "no readings on the day"
    detail_title = "Readings"

    def build(self, day: registry.ReportDay) -> registry.ReportContent:
        readings = Reading.objects.filter(day=day.business_date).order_by("station__code")
        if day.parameters["stations"]:
            readings = readings.filter(station__code__in=day.parameters["stations"])
        rows = list(readings.values_list(*COLUMNS))
        return registry.ReportContent(
            summary={
                "stations reporting": len(rows),
                "precipitation, total (mm)": sum(row[4] or 0 for row in rows),
            },
            detail_header=HEADER,
            detail_rows=rows,
        )


registry.register(ReadingsReport())
