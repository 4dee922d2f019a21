from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Schedules"

    def ready(self) -> None:
        from celery import signals

        from schedules import defaults, receivers

        # Each app declares its default schedules in `<app>/periodic.py`; a wrong entry
        # stops start-up here rather than surfacing at the next sync.
        defaults.discover()

        signals.task_prerun.connect(receivers.on_task_prerun, dispatch_uid="schedules.prerun")
        signals.task_postrun.connect(receivers.on_task_postrun, dispatch_uid="schedules.postrun")
        signals.task_failure.connect(receivers.on_task_failure, dispatch_uid="schedules.failure")
