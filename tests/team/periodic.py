"""The team's default schedule, declared through the platform's door."""

from schedules import defaults

defaults.register(
    name="team: nightly stock sync",
    task="team.sync_stock",
    crontab="15 4 * * *",
    timezone="Europe/London",
    kwargs={"warehouse": "north"},
    overlap="queue_one",
    pause_after_failures=3,
    description="Pulls stock levels from the north warehouse; pauses after 3 failures.",
)
defaults.register(
    name="team: hourly standard tally",
    task="tests.team.standard_tasks.tally",  # a Django @task, named by its import path
    crontab="5 * * * *",
    kwargs={"key": "hourly"},
    overlap="skip",
    pause_after_failures=2,
    description="The team's standard-API task, scheduled like its Celery tasks.",
)
