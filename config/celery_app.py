"""The Celery application. Named celery_app.py so it never shadows the `celery` package."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("batch_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _configure_celery_once(sender: Celery, **kwargs: object) -> None:
    # celery-once reads `app.conf.ONCE`, which the CELERY_ namespace cannot produce.
    from django.conf import settings

    sender.conf.ONCE = settings.CELERY_ONCE
