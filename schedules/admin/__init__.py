"""Admin pages of schedules, one module per family (imported here so they register).

- `base`: replaces django-celery-beat's registrations; audited saves, labelled inputs
- `periodic_tasks`: the periodic task list and change page, with its actions
- `schedule_objects`: crontab, interval, solar and clocked schedules
- `history`: run history (TaskRun) and the audit trail (ScheduleChange)
"""

from schedules.admin import history, periodic_tasks, schedule_objects

__all__ = ["history", "periodic_tasks", "schedule_objects"]
