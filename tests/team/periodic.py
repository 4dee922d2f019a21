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
