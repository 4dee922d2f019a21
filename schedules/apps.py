from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Schedules"

    def ready(self) -> None:
        from celery import signals
        from django.core import checks

        from schedules import checks as schedule_checks
        from schedules import defaults, receivers
        from schedules.tasks_backend import runner

        # Each app declares its default schedules in `<app>/periodic.py`; a wrong entry
        # stops start-up here rather than surfacing at the next sync.
        defaults.discover()
        checks.register(schedule_checks.check_overlap_guard, checks.Tags.compatibility)

        for signal, receiver in (
            (signals.task_prerun, receivers.on_task_prerun),
            (signals.task_postrun, receivers.on_task_postrun),
            (signals.task_failure, receivers.on_task_failure),
            (signals.task_retry, receivers.on_task_retry),
            (signals.task_revoked, receivers.on_task_revoked),
            (signals.before_task_publish, receivers.on_before_task_publish),
            (signals.worker_ready, receivers.on_worker_ready),
        ):
            signal.connect(receiver, dispatch_uid=f"schedules.{receiver.__name__}")
        # A standard-API task's result record, when the pool's parent ends its run.
        signals.task_failure.connect(
            runner.on_task_failure, dispatch_uid="schedules.tasks_backend.on_task_failure"
        )
