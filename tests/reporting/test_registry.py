"""The report-kind registry, through the team's own kind (tests/team/reports.py): no
templates, a parameter validated in the admin and on every save, its own "empty"."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from reporting import registry
from reporting.models import ReportDefinition
from reporting.rendering import report_render
from reporting.services import report_definition_create, report_definition_save
from tests.team.models import Reading, Station
from tests.team.reports import ReadingsReport

FRIDAY = dt.date(2026, 11, 20)
FORMULA_NOTE = "=1+2 sensor reset"


@pytest.fixture
def readings(db):
    """Three stations; two report on Friday, one of them with a note like a formula."""
    stations = [
        Station.objects.create(code=code, name=name)
        for code, name in [("BER", "Berlin"), ("HAM", "Hamburg"), ("MUC", "Munich")]
    ]
    Reading.objects.create(station=stations[0], day=FRIDAY, temp_max=Decimal("8.5"),
                           temp_min=Decimal("-1.0"), precipitation=Decimal("2.5"),
                           weather="rain", note=FORMULA_NOTE)  # fmt: skip
    Reading.objects.create(station=stations[1], day=FRIDAY, temp_max=Decimal("6.0"),
                           precipitation=Decimal("0.5"), weather="drizzle")  # fmt: skip
    Reading.objects.create(station=stations[2], day=FRIDAY - dt.timedelta(days=1),
                           temp_max=Decimal("4.0"), weather="sun")  # fmt: skip
    return stations


def team_definition(**fields):
    values = {
        "name": "Team readings", "kind": "team_readings", "to_recipients": "team@example.com",
        "timezone": "Europe/Berlin",
    }  # fmt: skip
    return report_definition_create(**{**values, **fields})


def test_kinds_are_discovered_in_each_apps_reports_module():
    assert isinstance(registry.get("team_readings"), ReadingsReport)  # tests/team/reports.py
    assert registry.get("end_of_day").template_prefix.startswith("catalogue/")  # sample domain
    assert registry.get("platform_day").label.startswith("Platform end of day")  # the platform
    with pytest.raises(registry.ReportKindNotFound, match="Unknown report kind 'nope'; known: "):
        registry.get("nope")


def test_a_malformed_kind_is_refused_loudly_at_registration():
    class NoKey(registry.ReportKind):
        label = "x"

        def build(self, day):
            return registry.ReportContent()

    class NoLabel(NoKey):
        key = "no_label"
        label = ""

    class NoBuild(registry.ReportKind):
        key, label = "no_build", "No build"

    class BadParameters(NoKey):
        key = "bad_parameters"
        parameters_form = dict  # type: ignore[assignment]

    class Impostor(NoKey):
        key = "team_readings"

    for kind, message in [
        (NoKey(), "NoKey.key must be 1 to 50 characters"),
        (NoLabel(), "NoLabel needs a label"),
        (NoBuild(), r"NoBuild must define build\(self, day\)"),
        (BadParameters(), "parameters_form must be a django.forms.Form subclass"),
        (Impostor(), "'team_readings' is already registered by tests.team.reports.ReadingsReport"),
    ]:
        with pytest.raises(ValueError, match=message):
            registry.register(kind)
    assert isinstance(registry.get("team_readings"), ReadingsReport)


def test_a_kind_without_templates_gets_the_default_html_and_text(readings):
    rendered = report_render(definition=team_definition(), business_date=FRIDAY)
    text = rendered.text_body
    assert "Team: the day's weather readings, business day Friday 20 November 2026" in text
    assert "Stations reporting: 2" in text
    assert "Precipitation, total (mm): 3.0" in text
    assert "station | name | temp_max | temp_min | precipitation | weather | note" in text
    assert f"BER | Berlin | 8.5 | -1.0 | 2.5 | rain | {FORMULA_NOTE}" in text
    assert "HAM | Hamburg | 6.0 |  | 0.5 | drizzle | " in text  # None shows as nothing
    html = rendered.html_body
    assert ">Readings</h2>" in html
    assert '<td align="right" style="border: 1px solid #d0d7de;">8.5</td>' in html
    assert "MUC" not in text  # Thursday's reading
    assert not rendered.empty


def test_the_default_body_shows_the_first_rows_and_the_attachment_has_them_all(readings, settings):
    settings.REPORTING_BODY_MAX_ROWS = 1
    rendered = report_render(definition=team_definition(), business_date=FRIDAY)
    assert "… and 1 more row in the attachment." in rendered.text_body
    assert "HAM" not in rendered.text_body
    assert b"HAM" in rendered.attachment


def test_an_empty_day_says_what_empty_means_for_the_kind(readings):
    rendered = report_render(definition=team_definition(), business_date=FRIDAY + dt.timedelta(3))
    assert rendered.empty
    assert "Nothing to show for this day: no readings on the day." in rendered.text_body


def test_parameters_are_validated_on_every_save_naming_the_parameter(readings):
    with pytest.raises(ValidationError) as refused:
        team_definition(parameters={"stations": "BER, XYZ, QQQ"})
    assert refused.value.message_dict == {
        "parameters": ["stations: Unknown station code(s): QQQ, XYZ"]
    }
    assert not ReportDefinition.objects.exists()

    definition = team_definition(parameters={"stations": " HAM "})
    assert ReportDefinition.objects.get().parameters == {"stations": "HAM"}
    rendered = report_render(definition=definition, business_date=FRIDAY)
    assert "Stations reporting: 1" in rendered.text_body
    assert "BER" not in rendered.text_body


def test_parameters_that_no_longer_validate_fail_the_build_with_their_name(readings):
    definition = team_definition(parameters={"stations": "MUC"})
    Reading.objects.filter(station__code="MUC").delete()
    Station.objects.filter(code="MUC").delete()
    with pytest.raises(ValidationError, match="stations: Unknown station code"):
        report_render(definition=definition, business_date=FRIDAY)


def test_a_kind_and_its_parameters_are_checked_on_save_too(db):
    with pytest.raises(ValidationError, match="Unknown report kind 'gone'"):
        report_definition_create(name="x", kind="gone", to_recipients="a@example.com")
    with pytest.raises(ValidationError, match=r"Unknown attachment format\(s\): pdf"):
        report_definition_create(name="x", to_recipients="a@example.com", attachment_formats="pdf")


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def form_data(**overrides):
    data = {
        "name": "Team readings", "kind": "team_readings", "enabled": "on",
        "to_recipients": "team@example.com", "cc_recipients": "", "send_hour": "18",
        "send_minute": "0", "business_weekdays": ["1", "2", "3", "4", "5"],
        "timezone": "Europe/Berlin", "holiday_country": "", "holiday_subdivision": "",
        "attachment_formats": ["csv", "xlsx"], "skip_when_empty": "on",
    }  # fmt: skip
    return {**data, **overrides}


def test_the_admin_shows_the_kinds_parameters_and_validates_them(admin_client, readings):
    add = reverse("admin:reporting_reportdefinition_add")
    page = admin_client.get(add, {"kind": "team_readings"}).content.decode()
    assert "Parameters of “Team: the day&#x27;s weather readings”" in page
    assert 'name="parameter_stations"' in page
    assert "Send nothing on a day with no readings on the day" in page

    refused = admin_client.post(add, form_data(parameter_stations="BER, XYZ"))
    assert refused.status_code == 200
    assert "Unknown station code(s): XYZ" in refused.content.decode()
    assert not ReportDefinition.objects.exists()

    saved = admin_client.post(add, form_data(parameter_stations="BER,HAM"))
    assert saved.status_code == 302, saved.content.decode()[:3000]
    definition = ReportDefinition.objects.get()
    assert definition.parameters == {"stations": "BER,HAM"}
    assert definition.attachment_format_list == ["csv", "xlsx"]
    assert definition.skip_when_empty

    change = reverse("admin:reporting_reportdefinition_change", args=[definition.pk])
    page = admin_client.get(change).content.decode()
    assert 'name="parameter_stations" value="BER,HAM"' in page
    assert 'value="xlsx" id="id_attachment_formats_1" checked>' in page


def test_the_platform_kind_has_no_parameters_fieldset(admin_client):
    page = admin_client.get(reverse("admin:reporting_reportdefinition_add")).content.decode()
    assert "Parameters of" not in page
    assert '<option value="platform_day" selected>' in page


def test_switching_kind_in_the_admin_asks_for_the_new_kinds_parameters(admin_client, readings):
    definition = report_definition_create(name="Platform", to_recipients="ops@example.com")
    change = reverse("admin:reporting_reportdefinition_change", args=[definition.pk])
    response = admin_client.post(change, form_data(name="Platform", parameter_stations="XYZ"))
    assert "Unknown station code(s): XYZ" in response.content.decode()
    response = admin_client.post(change, form_data(name="Platform", parameter_stations=""))
    assert response.status_code == 302
    definition.refresh_from_db()
    assert (definition.kind, definition.parameters) == ("team_readings", {"stations": ""})


def test_saving_a_definition_twice_keeps_its_parameters(readings):
    definition = team_definition(parameters={"stations": "BER"})
    definition.send_hour = 7
    report_definition_save(definition=definition)
    assert ReportDefinition.objects.get().parameters == {"stations": "BER"}


def test_a_preview_that_cannot_be_built_sends_the_user_back_with_the_reason(admin_client, readings):
    definition = team_definition(parameters={"stations": "MUC"})
    Reading.objects.filter(station__code="MUC").delete()
    Station.objects.filter(code="MUC").delete()
    url = reverse("admin:reporting_reportdefinition_preview", args=[definition.pk])
    response = admin_client.get(url, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0].endswith(f"/reportdefinition/{definition.pk}/change/")
    assert "This report cannot be built: stations: Unknown station code(s): MUC" in page
