"""Crontab, interval, solar and clocked schedules: validated, described, audited."""

from __future__ import annotations

from django.contrib import admin
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    SolarSchedule,
)

from schedules import timing
from schedules.admin.base import AuditedAdminMixin, LabelledDateTimeMixin
from schedules.forms import ValidatedCrontabForm


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(AuditedAdminMixin, beat_admin.CrontabScheduleAdmin):
    form = ValidatedCrontabForm
    list_display = ("__str__", "in_words")
    fields = (
        "in_words",
        "minute",
        "hour",
        "day_of_month",
        "month_of_year",
        "day_of_week",
        "timezone",
    )
    readonly_fields = ("in_words",)

    @admin.display(description="in plain words")
    def in_words(self, obj):
        if not obj.pk:
            return "-"
        expression = " ".join(
            [obj.minute, obj.hour, obj.day_of_month, obj.month_of_year, obj.day_of_week]
        )
        return timing.describe_crontab(expression, str(obj.timezone))


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(AuditedAdminMixin, beat_admin.IntervalScheduleAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(AuditedAdminMixin, beat_admin.SolarScheduleAdmin):
    pass


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(
    LabelledDateTimeMixin, AuditedAdminMixin, beat_admin.ClockedScheduleAdmin
):
    pass
