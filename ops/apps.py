from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Ops"

    def ready(self) -> None:
        from celery import signals as celery_signals
        from django.core import checks

        from ops import checks as ops_checks
        from ops import crons, home, schedule_alerts
        from ops import signals as ops_signals

        checks.register(ops_checks.check_task_time_limits, checks.Tags.compatibility)
        celery_signals.beat_init.connect(ops_signals.on_beat_init, weak=False)
        celery_signals.worker_ready.connect(ops_signals.on_worker_ready, weak=False)
        celery_signals.task_received.connect(ops_signals.on_task_received, weak=False)
        celery_signals.worker_shutdown.connect(ops_signals.on_worker_shutdown, weak=False)
        home.register_panels()
        crons.connect()
        schedule_alerts.connect()
