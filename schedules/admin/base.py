"""What every schedules admin page shares: django-celery-beat's own registrations are
replaced, saves and deletes go through the audited services, and split date/time
inputs are labelled."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from schedules.services.audit import SOURCE_ADMIN, schedule_object_save, schedule_objects_delete

for model in (PeriodicTask, CrontabSchedule, IntervalSchedule, SolarSchedule, ClockedSchedule):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class AuditedAdminMixin:
    """Saves and deletes through schedules.services.audit, which records who changed
    what (source "admin"); the admin itself writes no audit rows."""

    def save_model(self, request, obj, form, change):
        schedule_object_save(
            obj=obj, options=self.schedule_options(form), user=request.user, source=SOURCE_ADMIN
        )

    def schedule_options(self, form) -> dict | None:
        """ScheduleOptions fields from the form (periodic tasks only)."""
        return None

    def delete_model(self, request, obj):
        schedule_objects_delete(objects=[obj], user=request.user, source=SOURCE_ADMIN)

    def delete_queryset(self, request, queryset):
        schedule_objects_delete(objects=list(queryset), user=request.user, source=SOURCE_ADMIN)


class LabelledDateTimeMixin:
    """Names the date and time inputs of Django's split date/time widget.

    Django renders "Date:" and "Time:" as bare text next to the two inputs, so screen
    readers (and axe) find two unlabelled fields; an aria-label carries the field name.
    """

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and isinstance(field.widget, AdminSplitDateTime):
            date_input, time_input = field.widget.widgets
            date_input.attrs["aria-label"] = f"{field.label}: date"
            time_input.attrs["aria-label"] = f"{field.label}: time"
        return field
