"""The platform's own periodic tasks, declared as code.

`manage.py sync_default_schedules` (also run by `make run`) creates or updates
each entry by name. It never touches periodic tasks that admins created, and it
keeps an existing entry's enabled flag and last-run time.
Apps add their entries here; each is a dict with:
  name, task, and exactly one of `interval` (seconds) or `crontab` (5-field string),
  plus optional `queue`, `kwargs`, `description`, `timezone`.
"""

DEFAULT_SCHEDULES: list[dict] = []
