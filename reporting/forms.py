from __future__ import annotations

import holidays
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone

from reporting import registry
from reporting.models import WEEKDAY_CHOICES, ReportDefinition, split_addresses, timezone_choices

_validate_email = EmailValidator()


def clean_addresses(value: str, *, required: bool) -> str:
    addresses = split_addresses(value or "")
    if required and not addresses:
        raise ValidationError("Give at least one email address.")
    bad = []
    for address in addresses:
        try:
            _validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(
            "Not a valid email address: " + ", ".join(repr(address) for address in bad)
        )
    return ", ".join(addresses)


def holiday_country_choices() -> list[tuple[str, str]]:
    names = {code: code for code in holidays.list_supported_countries()}
    return [("", "— no holiday calendar —"), *sorted(names.items())]


class ReportDefinitionForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=registry.kind_choices)
    business_weekdays = forms.MultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=["1", "2", "3", "4", "5"],
        help_text="Business days the report covers.",
    )
    timezone = forms.ChoiceField(choices=timezone_choices, initial="UTC")
    holiday_country = forms.ChoiceField(choices=holiday_country_choices, required=False)

    class Meta:
        model = ReportDefinition
        fields = [
            "name", "kind", "enabled", "to_recipients", "cc_recipients", "send_hour",
            "send_minute", "business_weekdays", "timezone", "holiday_country",
            "holiday_subdivision",
        ]  # fmt: skip
        widgets = {
            "to_recipients": forms.Textarea(attrs={"rows": 3}),
            "cc_recipients": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["business_weekdays"] = [str(day) for day in self.instance.weekday_numbers]

    def clean_to_recipients(self) -> str:
        return clean_addresses(self.cleaned_data["to_recipients"], required=True)

    def clean_cc_recipients(self) -> str:
        return clean_addresses(self.cleaned_data["cc_recipients"], required=False)

    def clean_send_hour(self) -> int:
        hour = self.cleaned_data["send_hour"]
        if not 0 <= hour <= 23:
            raise ValidationError("The hour is 0 to 23.")
        return hour

    def clean_send_minute(self) -> int:
        minute = self.cleaned_data["send_minute"]
        if not 0 <= minute <= 59:
            raise ValidationError("The minute is 0 to 59.")
        return minute

    def clean_business_weekdays(self) -> str:
        return ",".join(sorted(self.cleaned_data["business_weekdays"]))

    def clean(self):
        cleaned = super().clean()
        country = cleaned.get("holiday_country")
        subdivision = (cleaned.get("holiday_subdivision") or "").strip()
        if subdivision and not country:
            self.add_error("holiday_subdivision", "Choose a holiday country first.")
        elif country:
            try:
                holidays.country_holidays(
                    country, subdiv=subdivision or None, years=timezone.now().year
                )
            except NotImplementedError as exc:
                self.add_error("holiday_subdivision", str(exc))
        return cleaned


class PreviewDateForm(forms.Form):
    date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Business date"
    )
