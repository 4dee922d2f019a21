"""System checks that keep the Celery configuration honest."""

from django.conf import settings
from django.core import checks


def check_task_time_limits(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every platform task needs soft and hard time limits below the visibility timeout.

    A hard limit above Redis' visibility timeout lets a long task be delivered a
    second time while the first is still running.
    """
    from celery import current_app as app
    from django.utils.module_loading import autodiscover_modules

    # Not app.loader.import_default_modules(): Celery's Django fixup runs the system
    # checks from inside it, which would recurse.
    autodiscover_modules("tasks")
    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    errors: list[checks.CheckMessage] = []
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery."):
            continue
        hard = task.time_limit or app.conf.task_time_limit
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        if not hard or not soft:
            errors.append(
                checks.Error(f"Task {name} has no soft and hard time limit.", id="ops.E001")
            )
        elif hard >= visibility:
            errors.append(
                checks.Error(
                    f"Task {name} has time_limit={hard}s, not below the Redis "
                    f"visibility_timeout of {visibility}s: it could run twice at once.",
                    hint="Lower the task's time_limit or raise CELERY_VISIBILITY_TIMEOUT.",
                    id="ops.E002",
                )
            )
        elif soft >= hard:
            errors.append(
                checks.Error(
                    f"Task {name} has soft_time_limit={soft}s not below time_limit={hard}s.",
                    id="ops.E003",
                )
            )
    return errors
