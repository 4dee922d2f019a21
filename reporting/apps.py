from django.apps import AppConfig
from django.db.models.signals import post_delete


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "Reports"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from reporting.models import ReportDefinition
        from reporting.monitoring import register_with_ops
        from reporting.signals import definition_deleted

        post_delete.connect(
            definition_deleted, sender=ReportDefinition, dispatch_uid="reporting.definition_deleted"
        )
        # Each app declares its report kinds in `<app>/reports.py`.
        autodiscover_modules("reports")
        register_with_ops()
