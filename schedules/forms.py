"""Admin forms that validate what django-celery-beat does not, with errors on the field."""

from __future__ import annotations

import json

from celery.schedules import crontab_parser
from django import forms
from django_celery_beat.admin import PeriodicTaskForm
from django_celery_beat.models import CrontabSchedule

from schedules.models import ScheduleOptions
from schedules.selectors import registered_tasks, task_signature


class ValidatedPeriodicTaskForm(PeriodicTaskForm):
    OPTION_FIELDS = ("catch_up", "overlap", "pause_after_failures")

    catch_up = forms.ChoiceField(
        label="Catch-up policy",
        choices=ScheduleOptions.CatchUp.choices,
        initial=ScheduleOptions.CatchUp.RUN_ONCE,
        help_text=(
            "After beat was down over several due times: run once, or skip them "
            "(recorded as missed). Never once per missed time."
        ),
    )

    overlap = forms.ChoiceField(
        label="Overlap policy",
        choices=ScheduleOptions.Overlap.choices,
        initial=ScheduleOptions.Overlap.SKIP,
        help_text=(
            "When a run is due while the previous one still runs: skip it (recorded as "
            "skipped), let one wait behind it, or allow them to overlap. Runs of the same "
            "task with the same arguments share one lock, whichever schedule sends them."
        ),
    )
    pause_after_failures = forms.IntegerField(
        label="Pause after failures in a row",
        required=False,
        min_value=1,
        max_value=1000,
        help_text=(
            "Optional: after this many failed runs in a row the schedule pauses itself and "
            "ops get an alert; Resume clears it. Empty: never."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk:
            options = ScheduleOptions.objects.filter(periodic_task_id=instance.pk).first()
            if options is not None:
                self.fields["catch_up"].initial = options.catch_up
                self.fields["overlap"].initial = options.overlap
                self.fields["pause_after_failures"].initial = options.pause_after_failures
            if instance.task in registered_tasks():
                # Show the task the schedule runs, not "---------", in the dropdown.
                self.fields["regtask"].initial = instance.task

    def _parsed(self, field: str, kind: type, words: str):
        raw = self.cleaned_data.get(field) or ("[]" if kind is list else "{}")
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, kind):
            raise forms.ValidationError(f"Must be a JSON {words}, got {type(value).__name__}.")
        return raw

    def clean_args(self):
        return self._parsed("args", list, 'list, for example ["a", 2]')

    def clean_kwargs(self):
        return self._parsed("kwargs", dict, 'object, for example {"days": 7}')

    def clean(self):
        typed = self.cleaned_data.get("task")
        if (
            typed
            and self.cleaned_data.get("regtask") not in ("", None, typed)
            and "task" in self.changed_data
            and "regtask" not in self.changed_data
        ):
            # The user typed a new task name under a dropdown still showing the old
            # one: the typed name is the edit, the dropdown only its preselection.
            self.cleaned_data["regtask"] = ""
        data = super().clean()
        name = data.get("task")
        if not name:
            return data
        task = registered_tasks().get(name)
        if task is None:
            self.add_error(
                "regtask" if data.get("regtask") else "task",
                f"No registered Celery task is called {name!r}. Pick one from "
                "'Task (registered)' or check the spelling.",
            )
            return data
        if "args" not in data or "kwargs" not in data:
            return data  # already reported on the field
        args = json.loads(data["args"] or "[]")
        kwargs = json.loads(data["kwargs"] or "{}")
        signature = task_signature(task)
        try:
            signature.bind_partial(*args)
        except TypeError as exc:
            self.add_error("args", f"Does not match {name}{signature}: {exc}.")
            return data
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            self.add_error("kwargs", f"Does not match {name}{signature}: {exc}.")
        return data


CRON_FIELDS = (
    ("minute", 60, 0),
    ("hour", 24, 0),
    ("day_of_week", 7, 0),
    ("day_of_month", 31, 1),
    ("month_of_year", 12, 1),
)


class ValidatedCrontabForm(forms.ModelForm):
    class Meta:
        model = CrontabSchedule
        fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")

    def clean(self):
        data = super().clean()
        # Celery's own parser is what beat will use: check each field with it.
        for field, max_, min_ in CRON_FIELDS:
            value = data.get(field)
            if value is None or field in self.errors:
                continue
            try:
                parsed = crontab_parser(max_, min_).parse(str(value))
            except Exception as exc:
                self.add_error(field, f"Not a valid crontab {field.replace('_', ' ')}: {exc}")
                continue
            if not parsed:
                self.add_error(field, f"Matches no {field.replace('_', ' ')}.")
        return data
