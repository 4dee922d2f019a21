from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Imports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery import signals as celery_signals
        from django.core import checks
        from django.utils.module_loading import autodiscover_modules

        from batches import receivers
        from batches.checks import check_datasets
        from batches.monitoring import register_with_ops

        # Each app declares its importable datasets in `<app>/imports.py`.
        autodiscover_modules("imports")
        register_with_ops()
        checks.register(check_datasets)
        celery_signals.worker_ready.connect(receivers.on_worker_ready, weak=False)
