"""Django's own task API on the platform: a `TASKS` backend on Celery.

`backend` (CeleryBackend: enqueue, results, checks), `runner` (each `@task` is a Celery
task; the worker side), `records` (results in Celery's result backend), `api` (the API
from `django.tasks` on Django 6.0, from the `django-tasks` backport on 5.2).
"""

from schedules.tasks_backend.backend import CeleryBackend

__all__ = ["CeleryBackend"]
