from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Ops"

    def ready(self) -> None:
        from django.core import checks

        from ops import checks as ops_checks

        checks.register(ops_checks.check_task_time_limits, checks.Tags.compatibility)
