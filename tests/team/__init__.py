"""A test-only Django app that plays a team using the platform.

It plugs in through the same doors a real team would: its own models, a Resource in
`imports.py`, plain `@shared_task` functions in `tasks.py` (no platform base class),
a report kind in `reports.py`. Features are tested through it, not only through the
sample domain, because the platform exists for code like this.
"""
