"""Tasks that exist only for the ops tests (registered in the pytest process)."""

from celery import shared_task

from schedules.locking import PeriodicOnceTask


@shared_task(name="tests.ops_fail_on_purpose", soft_time_limit=10, time_limit=15)
def fail_on_purpose(email: str = "nobody@example.com") -> None:
    raise ValueError(f"row 7 rejected for {email}")


@shared_task(base=PeriodicOnceTask, name="tests.ops_locked_job", once={"graceful": True},
             soft_time_limit=10, time_limit=15)  # fmt: skip
def locked_job() -> str:
    return "done"
