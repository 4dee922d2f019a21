"""Settings for mypy's Django plugin, which imports them to learn the models.

It never connects, so placeholder URLs keep `make lint` from starting (and leaving
behind) the embedded PostgreSQL and Redis that the test settings would start.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://typecheck@127.0.0.1:5432/typecheck")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from config.settings.base import *  # noqa: F403
