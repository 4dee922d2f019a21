from __future__ import annotations

import copy
from typing import Any, ClassVar

import holidays
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone

from reporting import registry
from reporting.models import (
    ATTACHMENT_FORMAT_CHOICES,
    PLATFORM_KIND,
    WEEKDAY_CHOICES,
    ReportDefinition,
    split_addresses,
    timezone_choices,
)

# A kind's parameters appear in the definition form as fields named `parameter_<name>`.
PARAMETER_PREFIX = "parameter_"

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
    """The definition form; `form_for_kind` adds the fields of a kind's parameters."""

    report_kind: ClassVar[registry.ReportKind | None] = None

    kind = forms.ChoiceField(
        choices=registry.kind_choices,
        initial=PLATFORM_KIND,
        help_text="What the report says. After changing it, use “Save and continue editing” "
        "to fill in the new kind's parameters, if it has any.",
    )
    attachment_formats = forms.MultipleChoiceField(
        choices=ATTACHMENT_FORMAT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=["csv"],
        help_text="The detail table as files attached to the email; none ticked sends none.",
    )
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
            "holiday_subdivision", "skip_when_empty", "attachment_formats",
        ]  # fmt: skip
        widgets = {
            "to_recipients": forms.Textarea(attrs={"rows": 3}),
            "cc_recipients": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["business_weekdays"] = [str(day) for day in self.instance.weekday_numbers]
            self.initial["attachment_formats"] = self.instance.attachment_format_list
        kind = self.report_kind
        if kind is not None:
            self.fields[
                "skip_when_empty"
            ].help_text = (
                f"Send nothing on a day with {kind.empty_means}; the skip is recorded as a run."
            )
            if self.instance.kind == kind.key:
                for name, value in (self.instance.parameters or {}).items():
                    self.initial[PARAMETER_PREFIX + name] = value

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

    def clean_attachment_formats(self) -> str:
        return ",".join(sorted(self.cleaned_data["attachment_formats"]))

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
        self._clean_parameters(cleaned)
        return cleaned

    def _clean_parameters(self, cleaned: dict[str, Any]) -> None:
        """The chosen kind validates its parameters (each field, then its form's clean)."""
        kind = registry.find(cleaned.get("kind") or "")
        if kind is None or kind.parameters_form is None:
            self.instance.parameters = {}
            return
        names = list(kind.parameters_form.base_fields)
        if any(self.has_error(PARAMETER_PREFIX + name) for name in names):
            return  # already told, field by field
        stored = {
            name: registry.as_form_input(cleaned.get(PARAMETER_PREFIX + name)) for name in names
        }
        form = kind.parameters_form(data=stored)
        if not form.is_valid():
            for name, errors in form.errors.items():
                field = PARAMETER_PREFIX + name
                if field in self.fields:
                    self.add_error(field, errors)
                else:  # the form was built for another kind: say which parameter
                    self.add_error("kind", [f"{name}: {error}" for error in errors])
            return
        self.instance.parameters = stored


def form_for_kind(key: str) -> type[ReportDefinitionForm]:
    """The definition form with the fields of kind `key`'s parameters (if any)."""
    kind = registry.find(key)
    attrs: dict[str, Any] = {"report_kind": kind, "__module__": __name__}
    if kind is not None and kind.parameters_form is not None:
        for name, field in kind.parameters_form.base_fields.items():
            attrs[PARAMETER_PREFIX + name] = copy.deepcopy(field)
    return type("ReportDefinitionForm", (ReportDefinitionForm,), attrs)


def parameter_field_names(key: str) -> list[str]:
    kind = registry.find(key)
    if kind is None or kind.parameters_form is None:
        return []
    return [PARAMETER_PREFIX + name for name in kind.parameters_form.base_fields]


class PreviewDateForm(forms.Form):
    date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Business date"
    )
