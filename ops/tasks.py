from celery import shared_task


@shared_task(name="ops.ping", soft_time_limit=10, time_limit=15, acks_late=True,
             reject_on_worker_lost=True)  # fmt: skip
def ping(value: str = "pong") -> str:
    """Round trip through broker, worker and result backend; side-effect free."""
    return value
