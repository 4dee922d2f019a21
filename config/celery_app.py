"""The Celery application. Named celery_app.py so it never shadows the `celery` package."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("batch_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _configure_celery_once(sender: Celery, **kwargs: object) -> None:
    # celery-once reads `app.conf.ONCE`, which the CELERY_ namespace cannot produce.
    from django.conf import settings

    sender.conf.ONCE = settings.CELERY_ONCE


@worker_init.connect
def _refuse_to_start_with_unsafe_settings(sender: object = None, **kwargs: object) -> None:
    # Celery's Django fixup runs the system checks at start-up but ignores their
    # result; a worker whose tasks can outlive the visibility timeout must not start.
    from ops.checks import check_task_time_limits
    from schedules.tasks_backend.backend import backends_check

    errors = [*check_task_time_limits(), *backends_check()]
    if errors:
        lines = "\n".join(f"  {error.id}: {error.msg}" for error in errors)
        raise SystemExit(f"Refusing to start the worker:\n{lines}")


@worker_init.connect
@worker_process_init.connect
def _keep_worker_memory_flat(**kwargs: object) -> None:
    from django.conf import settings

    from config.worker_memory import pin_mmap_threshold

    pin_mmap_threshold(settings.WORKER_MMAP_THRESHOLD_BYTES)
