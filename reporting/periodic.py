"""Default periodic tasks of the reporting app (see schedules/defaults.py for the format)."""

DEFAULT_SCHEDULES = [
    {
        "name": "reports: catch up lost sends",
        "task": "reporting.catch_up_sends",
        "interval": 60,
        "description": "Triggers a report whose due time (within the last hour) passed "
        "30 s ago with no run for its business date, and sends again the delivery of a run "
        "never attempted a minute after it was made: what beat's or a delivery message "
        "would have done had Redis not lost it.",
    },
]
